"""A battle of 10**8 ships a side, stored in the database, through the fleet arrival and the combat
service: the engine takes the grouped mode, so the worker's memory stays small."""

from __future__ import annotations

import tracemalloc

import pytest

from combat.models import Report
from fleets import jobs
from fleets.models import Fleet
from fleets.services import fleet_dispatch
from galactic.models import Planet

NO_PRODUCTION = {"metal_per_hour": 0, "crystal_per_hour": 0, "deuterium_per_hour": 0}
RAID = {"battleship": 20_000_000, "cruiser": 30_000_000, "light_fighter": 50_000_000}
HOME_GUARD = {"light_fighter": 40_000_000, "cruiser": 10_000_000, "rocket_launcher": 50_000_000}


@pytest.fixture(autouse=True)
def fast_universe(settings):
    settings.GAME_SPEED = 100_000


@pytest.mark.django_db(transaction=True)
def test_an_arrival_with_a_hundred_million_ships_a_side_fights_in_bounded_memory(make_player, redis_conn):
    alice = make_player("alice", deuterium=10**14, **RAID, **NO_PRODUCTION)
    bob = make_player("bob", **HOME_GUARD, **NO_PRODUCTION)
    fleet = fleet_dispatch(
        player=alice.player,
        origin_id=alice.home.pk,
        target_id=bob.home.pk,
        mission="attack",
        ships=RAID,
        cargo={},
    )

    tracemalloc.start()
    try:
        assert jobs.fleet_arrival(fleet.pk) is True
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The exact engine would hold about 150 bytes a unit: 30 GB here.
    assert peak < 100 * 2**20

    fleet.refresh_from_db()
    report = Report.objects.get(kind=Report.Kind.BATTLE)
    losses = report.data["losses"]
    assert report.data["rounds"] >= 1 and report.data["round_log"]
    assert losses["attacker"] and losses["defender"]  # both sides really fought
    for name, n in RAID.items():
        assert fleet.ships.get(name, 0) + losses["attacker"].get(name, 0) == n
    target = Planet.objects.get(pk=bob.home.pk)
    for name, n in HOME_GUARD.items():
        assert getattr(target, name) + losses["defender"].get(name, 0) == n
    assert fleet.status in (Fleet.Status.RETURNING, Fleet.Status.DESTROYED)
