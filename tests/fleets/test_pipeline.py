"""From dispatch over HTTP to landing, through real worker processes."""

from __future__ import annotations

import pytest

from combat.models import NpcBase, Report
from combat.services import npc_seed
from fleets.models import Fleet
from galactic.models import Planet
from tests.conftest import fleet_totals

pytestmark = pytest.mark.django_db(transaction=True)

NO_PRODUCTION = {"metal_per_hour": 0, "crystal_per_hour": 0, "deuterium_per_hour": 0}


@pytest.fixture(autouse=True)
def fast_universe(settings):
    settings.GAME_SPEED = 100_000


def test_attack_on_an_npc_lands_survivors_and_loot_home(redis_conn, processes, make_player, api_client):
    alice = make_player("alice", **NO_PRODUCTION)
    npc = npc_seed(count=1)[0]
    Planet.objects.filter(pk=npc.planet_id).update(**NO_PRODUCTION)
    before = fleet_totals()

    response = api_client(alice).post(
        "/api/fleets",
        {
            "origin": alice.home.pk,
            "target": npc.planet_id,
            "mission": "attack",
            "ships": {"battleship": 10, "large_cargo": 5},
            "speed": 100,
        },
    )
    assert response.status_code == 201, response.content
    fleet_id = response.json()["id"]
    processes.run_burst_worker()  # arrival (due at once at this game speed), then return

    fleet = Fleet.objects.get(pk=fleet_id)
    assert fleet.status == Fleet.Status.COMPLETED, processes.logs()
    report = Report.objects.get(pk=fleet.report_id)
    assert report.kind == "battle" and report.data["outcome"] == "attacker"
    assert sum(report.data["loot"].values()) > 0
    assert fleet.cargo == report.data["loot"]
    assert NpcBase.objects.get(pk=npc.pk).state in ("defeated", "active")  # respawn may already have run
    assert fleet_totals() == before
    # Alice's home keeps its 5 other large cargos; the survivors of the battle come back.
    lost = report.data["losses"]["attacker"]
    home = Planet.objects.get(pk=alice.home.pk)
    assert home.battleship == 10 - lost.get("battleship", 0)
    assert home.large_cargo == 10 - lost.get("large_cargo", 0)


def test_transport_unloads_on_target_and_returns_empty(redis_conn, processes, make_player, api_client):
    alice = make_player("alice", **NO_PRODUCTION)
    bob = make_player("bob", **NO_PRODUCTION)
    before = fleet_totals()
    bob_metal = bob.home.metal
    response = api_client(alice).post(
        "/api/fleets",
        {
            "origin": alice.home.pk,
            "target": bob.home.pk,
            "mission": "transport",
            "ships": {"large_cargo": 2},
            "cargo": {"metal": 30_000, "crystal": 1_000},
        },
    )
    assert response.status_code == 201, response.content
    processes.run_burst_worker()
    fleet = Fleet.objects.get(pk=response.json()["id"])
    assert fleet.status == Fleet.Status.COMPLETED
    assert fleet.report.kind == "delivery"
    assert fleet.report.data["delivered"] == {"metal": 30_000, "crystal": 1_000, "deuterium": 0}
    assert Planet.objects.get(pk=bob.home.pk).metal == bob_metal + 30_000
    assert fleet_totals() == before
