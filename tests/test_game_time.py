"""Every event takes effect as of its own time, whatever moment a worker runs it (RULES.md):
production is never lost to settlements, a base past its respawn time fights restored, and a
fleet past its arrival time has arrived."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from combat.jobs import npc_respawn
from combat.models import NpcBase
from combat.services import npc_seed
from fleets import jobs
from fleets.models import Fleet
from fleets.services import fleet_dispatch
from galactic.models import Planet

pytestmark = pytest.mark.django_db

NO_PRODUCTION = {"metal_per_hour": 0, "crystal_per_hour": 0, "deuterium_per_hour": 0}


def send(player, target_id: int, mission: str, ships: dict[str, int]) -> Fleet:
    return fleet_dispatch(
        player=player.player,
        origin_id=player.home.pk,
        target_id=target_id,
        mission=mission,
        ships=ships,
        cargo={},
    )


def land_at(fleet: Fleet, at) -> None:
    Fleet.objects.filter(pk=fleet.pk).update(depart_at=at - timedelta(minutes=1), arrive_at=at, return_at=at)


def test_a_transport_every_second_costs_the_target_no_production(make_player):
    """The measurement that found the loss: 60 transports a second apart, against an untouched twin."""
    production = {"metal_per_hour": 3_360, "crystal_per_hour": 1_680, "deuterium_per_hour": 840}
    sender = make_player("sender", **NO_PRODUCTION)
    start = timezone.now() - timedelta(minutes=5)
    target = make_player("target", resources_at=start, **production)
    twin = make_player("twin", resources_at=start, **production)
    for second in range(1, 61):
        fleet = send(sender, target.home.pk, "transport", {"light_fighter": 1})
        land_at(fleet, start + timedelta(seconds=second))
        jobs.fleet_arrival(fleet.pk)

    touched = Planet.objects.get(pk=target.home.pk)
    untouched = Planet.objects.get(pk=twin.home.pk).resources_as_of(start + timedelta(minutes=1))
    assert touched.resources_at == start + timedelta(minutes=1)
    assert touched.resources == untouched
    assert {name: touched.resources[name] - target.home.resources[name] for name in untouched} == {
        "metal": 56,
        "crystal": 28,
        "deuterium": 14,
    }


def test_an_attack_after_the_respawn_time_fights_the_restored_base(make_player, settings):
    """Even when its job runs before the (late) respawn job."""
    settings.GAME_SPEED = 3_600  # tier 3 respawns 8 s after its defeat
    attacker = make_player("attacker", battleship=2_000, cruiser=1_000, large_cargo=100)
    npc = next(base for base in npc_seed(count=3) if base.tier == 3)
    start = timezone.now() - timedelta(minutes=5)
    crushing = send(attacker, npc.planet_id, "attack", {"battleship": 1_000, "cruiser": 500})
    land_at(crushing, start)
    jobs.fleet_arrival(crushing.pk)
    npc.refresh_from_db()
    assert npc.state == NpcBase.State.DEFEATED and npc.respawn_at == start + timedelta(seconds=8)

    raid = send(attacker, npc.planet_id, "attack", {"light_fighter": 5, "large_cargo": 20})
    land_at(raid, start + timedelta(seconds=9))  # after the respawn time; the respawn job has not run
    jobs.fleet_arrival(raid.pk)

    raid.refresh_from_db()
    report = raid.report.data
    assert report["rounds"] > 0 and report["outcome"] == "defender"  # the garrison was back
    assert report["loot"] == {"metal": 0, "crystal": 0, "deuterium": 0}
    npc.refresh_from_db()
    assert npc.state == NpcBase.State.ACTIVE
    assert npc_respawn(npc.pk) is False  # the late job finds its work done


def test_a_raid_before_the_respawn_time_loots_the_defeated_base(make_player, settings):
    settings.GAME_SPEED = 3_600
    attacker = make_player("attacker", battleship=2_000, cruiser=1_000, large_cargo=100)
    npc = next(base for base in npc_seed(count=3) if base.tier == 3)
    start = timezone.now() - timedelta(minutes=5)
    crushing = send(attacker, npc.planet_id, "attack", {"battleship": 1_000, "cruiser": 500})
    raid = send(attacker, npc.planet_id, "attack", {"light_fighter": 5, "large_cargo": 20})
    land_at(crushing, start)
    land_at(raid, start + timedelta(seconds=7))  # before the respawn at 8 s
    jobs.fleet_arrival(raid.pk)  # run first: it applies the earlier crushing arrival first

    crushing.refresh_from_db()
    raid.refresh_from_db()
    assert crushing.report.data["outcome"] == "attacker" and crushing.report.data["rounds"] > 0
    assert raid.report.data["rounds"] == 0 and sum(raid.report.data["loot"].values()) > 0
    assert NpcBase.objects.get(pk=npc.pk).state == NpcBase.State.DEFEATED


def test_a_fleet_past_its_arrival_time_cannot_be_recalled(make_player, api_client):
    alice = make_player("alice")
    bob = make_player("bob")
    fleet = send(alice, bob.home.pk, "attack", {"cruiser": 5})
    land_at(fleet, timezone.now() - timedelta(milliseconds=5))  # due; no worker has run it yet

    response = api_client(alice).post(f"/api/fleets/{fleet.pk}/recall", {})

    assert response.status_code == 409
    assert response.json()["fields"] == {"fleet": "has arrived"}
    fleet.refresh_from_db()
    assert fleet.status == Fleet.Status.OUTBOUND
    assert jobs.fleet_arrival(fleet.pk) is True  # the battle happens
    fleet.refresh_from_db()
    assert fleet.report.kind == "battle"
