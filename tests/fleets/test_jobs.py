"""The fleet handlers are safe to run twice, late, or on two workers at once."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from combat.jobs import npc_respawn
from combat.models import NpcBase, Report
from combat.services import npc_seed
from fleets import jobs, schedules
from fleets.models import Fleet
from fleets.services import fleet_dispatch
from galactic.events import queue
from galactic.models import Planet
from tests.conftest import REPO, fleet_totals, process_env

NO_PRODUCTION = {"metal_per_hour": 0, "crystal_per_hour": 0, "deuterium_per_hour": 0}


@pytest.fixture(autouse=True)
def fast_universe(settings):
    settings.GAME_SPEED = 100_000


def dispatch_attack(player, target_id: int, ships: dict[str, int]) -> Fleet:
    return fleet_dispatch(
        player=player.player,
        origin_id=player.home.pk,
        target_id=target_id,
        mission="attack",
        ships=ships,
        cargo={},
    )


@pytest.mark.django_db(transaction=True)
def test_arrival_twice_fights_and_loots_once(make_player, redis_conn):
    alice = make_player("alice", **NO_PRODUCTION)
    npc = npc_seed(count=1)[0]
    Planet.objects.filter(pk=npc.planet_id).update(**NO_PRODUCTION)
    fleet = dispatch_attack(alice, npc.planet_id, {"battleship": 10, "large_cargo": 4})
    before = fleet_totals()

    assert jobs.fleet_arrival(fleet.pk) is True
    after_first = (Planet.objects.get(pk=npc.planet_id).resources, Fleet.objects.get(pk=fleet.pk).cargo)
    assert jobs.fleet_arrival(fleet.pk) is False
    assert (
        Planet.objects.get(pk=npc.planet_id).resources,
        Fleet.objects.get(pk=fleet.pk).cargo,
    ) == after_first
    assert Report.objects.count() == 1
    assert fleet_totals() == before
    assert queue.job_status(schedules.return_job_id(fleet.pk)) == "queued"  # due at once at this speed


@pytest.mark.django_db(transaction=True)
def test_return_twice_lands_once(make_player, redis_conn):
    alice = make_player("alice", **NO_PRODUCTION)
    bob = make_player("bob", **NO_PRODUCTION)
    fleet = fleet_dispatch(
        player=alice.player,
        origin_id=alice.home.pk,
        target_id=bob.home.pk,
        mission="transport",
        ships={"battleship": 5},
        cargo={"metal": 100},
    )
    jobs.fleet_arrival(fleet.pk)
    fleet.refresh_from_db()
    survivors = fleet.ships
    home_before = Planet.objects.get(pk=alice.home.pk).battleship

    assert jobs.fleet_return(fleet.pk) is True
    assert jobs.fleet_return(fleet.pk) is False
    assert Planet.objects.get(pk=alice.home.pk).battleship == home_before + survivors.get("battleship", 0)
    assert Fleet.objects.get(pk=fleet.pk).status == Fleet.Status.COMPLETED


@pytest.mark.django_db(transaction=True)
def test_stale_jobs_for_missing_or_finished_work_change_nothing(make_player, redis_conn):
    assert jobs.fleet_arrival(10**9) is False
    assert jobs.fleet_return(10**9) is False
    assert npc_respawn(10**9) is False
    npc = npc_seed(count=1)[0]
    assert npc_respawn(npc.pk) is False  # not defeated: nothing to restore


@pytest.mark.django_db(transaction=True)
def test_defeat_schedules_respawn_which_restores_the_template(make_player, redis_conn):
    alice = make_player("alice", **NO_PRODUCTION)
    npc = npc_seed(count=1)[0]  # tier 1
    fleet = dispatch_attack(alice, npc.planet_id, {"battleship": 10, "cruiser": 10})
    jobs.fleet_arrival(fleet.pk)
    npc.refresh_from_db()
    assert npc.state == NpcBase.State.DEFEATED
    assert queue.job_status(f"npc-respawn-{npc.pk}") in ("scheduled", "queued")
    planet = Planet.objects.get(pk=npc.planet_id)
    assert planet.light_fighter == 0
    stock_left = planet.resources

    NpcBase.objects.filter(pk=npc.pk).update(respawn_at=timezone.now() + timedelta(hours=1))
    assert npc_respawn(npc.pk) is False  # never before its time
    NpcBase.objects.filter(pk=npc.pk).update(respawn_at=timezone.now())
    assert npc_respawn(npc.pk) is True
    assert npc_respawn(npc.pk) is False
    npc.refresh_from_db()
    planet.refresh_from_db()
    assert npc.state == NpcBase.State.ACTIVE
    assert (planet.light_fighter, planet.small_cargo, planet.rocket_launcher) == (10, 2, 10)
    assert planet.resources["metal"] >= stock_left["metal"]  # stock keeps what was left (and production)


@pytest.mark.django_db(transaction=True)
def test_attack_on_a_defeated_npc_takes_loot_without_battle(make_player, redis_conn, settings):
    settings.GAME_SPEED = 1_000  # the second fleet lands long before the respawn (7.2 s)
    alice = make_player("alice", **NO_PRODUCTION)
    npc = npc_seed(count=1)[0]
    Planet.objects.filter(pk=npc.planet_id).update(**NO_PRODUCTION)
    first = dispatch_attack(alice, npc.planet_id, {"battleship": 10})
    jobs.fleet_arrival(first.pk)
    second = dispatch_attack(alice, npc.planet_id, {"light_fighter": 1, "large_cargo": 1})
    jobs.fleet_arrival(second.pk)
    second.refresh_from_db()
    report = second.report
    assert report.kind == "battle" and report.data["rounds"] == 0 and report.data["outcome"] == "attacker"
    assert second.ships == {"light_fighter": 1, "large_cargo": 1}
    assert sum(report.data["loot"].values()) > 0


@pytest.mark.django_db(transaction=True)
def test_a_fleet_that_loses_everything_is_destroyed_and_never_returns(make_player, redis_conn):
    alice = make_player("alice", **NO_PRODUCTION)
    bob = make_player("bob", **NO_PRODUCTION)
    Planet.objects.filter(pk=bob.home.pk).update(heavy_laser=500)
    fleet = dispatch_attack(alice, bob.home.pk, {"light_fighter": 1})
    jobs.fleet_arrival(fleet.pk)
    fleet.refresh_from_db()
    assert fleet.status == Fleet.Status.DESTROYED and fleet.ships == {}
    assert queue.job_status(schedules.return_job_id(fleet.pk)) is None


CALL_ARRIVALS = """
import django, sys; django.setup()
from fleets.jobs import fleet_arrival
print(sum(fleet_arrival(int(i)) for i in sys.argv[1:]))
"""


@pytest.mark.django_db(transaction=True)
def test_two_processes_running_the_same_arrivals_at_once_apply_each_once(make_player, redis_conn):
    alice = make_player("alice", **NO_PRODUCTION)
    bob = make_player("bob", **NO_PRODUCTION)
    fleets = [dispatch_attack(alice, bob.home.pk, {"light_fighter": 2}) for _ in range(30)]
    before = fleet_totals()
    ids = [str(f.pk) for f in fleets]
    env = process_env()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CALL_ARRIVALS, *order], cwd=REPO, env=env, stdout=subprocess.PIPE
        )
        for order in (ids, ids[::-1])
    ]
    applied = [int(p.communicate(timeout=120)[0]) for p in procs]
    # A job may find its arrival already applied by a later one on the same planet (which applies
    # the earlier ones first): each arrival is applied once, one report each.
    assert 1 <= sum(applied) <= len(fleets)
    assert Report.objects.count() == len(fleets)
    assert set(Fleet.objects.values_list("report_id", flat=True)) == set(
        Report.objects.values_list("pk", flat=True)
    )
    assert fleet_totals() == before
    assert not Fleet.objects.filter(status=Fleet.Status.OUTBOUND).exists()


@pytest.mark.django_db(transaction=True)
def test_two_real_workers_bring_every_fleet_home(make_player, redis_conn, processes):
    alice = make_player("alice", **NO_PRODUCTION)
    npcs = npc_seed(count=3)
    Planet.objects.filter(npc__isnull=False).update(**NO_PRODUCTION)
    for i in range(20):
        dispatch_attack(alice, npcs[i % 3].planet_id, {"cruiser": 1, "small_cargo": 1})
    before = fleet_totals()
    start = timezone.now()
    workers = [processes.worker("--burst", "--with-scheduler") for _ in range(2)]
    for worker in workers:
        assert worker.wait(timeout=120) == 0, processes.logs()
    # a second pass picks up returns scheduled while the first workers were finishing
    processes.run_burst_worker()
    assert set(Fleet.objects.values_list("status", flat=True)) <= {"completed", "destroyed"}, processes.logs()
    assert Report.objects.filter(at__gte=start - timezone.timedelta(hours=1)).count() == 20
    assert fleet_totals() == before


@pytest.mark.django_db(transaction=True)
def test_recalled_fleet_comes_home_without_arriving(make_player, redis_conn, api_client, settings):
    settings.GAME_SPEED = 1  # a real flight, so the recall happens mid-way
    alice = make_player("alice", **NO_PRODUCTION)
    bob = make_player("bob", **NO_PRODUCTION)
    before = fleet_totals()
    fleet = fleet_dispatch(
        player=alice.player,
        origin_id=alice.home.pk,
        target_id=bob.home.pk,
        mission="transport",
        ships={"small_cargo": 2},
        cargo={"metal": 500},
    )
    response = api_client(alice).post(f"/api/fleets/{fleet.pk}/recall", {})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "returning"
    assert api_client(alice).post(f"/api/fleets/{fleet.pk}/recall", {}).status_code == 409
    assert api_client(bob).post(f"/api/fleets/{fleet.pk}/recall", {}).status_code == 404

    assert jobs.fleet_arrival(fleet.pk) is False  # the stale arrival changes nothing
    assert jobs.fleet_return(fleet.pk) is True
    fleet.refresh_from_db()
    assert fleet.status == "completed" and fleet.report is None and fleet.cargo["metal"] == 500
    assert fleet_totals() == before
    assert Planet.objects.get(pk=alice.home.pk).small_cargo == alice.home.small_cargo
