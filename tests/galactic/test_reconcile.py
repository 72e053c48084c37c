"""The database is the source of truth: a Redis that lost its data, or was down, loses no event."""

from __future__ import annotations

import pytest

from fleets.models import Fleet
from fleets.services import fleet_dispatch
from galactic.events import queue
from galactic.events.reconcile import reconcile
from tests.conftest import process_env, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fast_universe(settings):
    settings.GAME_SPEED = 100_000


def dispatch_transports(sender, receiver, n: int) -> list[Fleet]:
    return [
        fleet_dispatch(
            player=sender.player,
            origin_id=sender.home.pk,
            target_id=receiver.home.pk,
            mission="transport",
            ships={"small_cargo": 1},
            cargo={"metal": 10},
        )
        for _ in range(n)
    ]


def test_reconcile_after_a_redis_wipe_restores_every_pending_event_once(make_player, redis_conn, processes):
    alice, bob = make_player("alice"), make_player("bob")
    fleets = dispatch_transports(alice, bob, 12)
    redis_conn.flushdb()
    assert queue.get_queue_stats().waiting + queue.get_queue_stats().delayed == 0

    result = reconcile()
    assert (result.pending, result.enqueued) == (12, 12)
    again = reconcile()
    assert (again.pending, again.enqueued) == (12, 0)  # live jobs are left alone: nothing doubles

    processes.run_burst_worker()
    assert set(Fleet.objects.filter(pk__in=[f.pk for f in fleets]).values_list("status", flat=True)) == {
        "completed"
    }
    assert reconcile().pending == 0


def test_reconcile_command_prints_what_it_did(make_player, redis_conn, processes):
    alice, bob = make_player("alice"), make_player("bob")
    dispatch_transports(alice, bob, 3)
    redis_conn.flushdb()
    out = processes.run("manage.py", "reconcile_events")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "3 of 3 pending events enqueued"


def test_dispatch_succeeds_while_redis_is_down_and_fires_once_redis_is_back(
    make_player, redis_conn, processes, settings, api_client
):
    alice, bob = make_player("alice"), make_player("bob")
    working = settings.RQ_QUEUES
    settings.RQ_QUEUES = {"game_events": {**working["game_events"], "PORT": 1}}  # nothing listens there
    response = api_client(alice).post(
        "/api/fleets",
        {"origin": alice.home.pk, "target": bob.home.pk, "mission": "transport", "ships": {"small_cargo": 1}},
    )
    assert response.status_code == 201, response.content
    assert api_client(alice).get("/health").status_code == 503
    settings.RQ_QUEUES = working
    assert queue.job_status(f"fleet-arrival-{response.json()['id']}") is None

    assert reconcile().enqueued == 1
    processes.run_burst_worker()
    assert Fleet.objects.get(pk=response.json()["id"]).status == "completed"


def test_periodic_reconcile_comes_back_by_itself_after_a_wipe(make_player, redis_conn, processes):
    alice, bob = make_player("alice"), make_player("bob")
    env = process_env(RECONCILE_INTERVAL="2", PROBE_UPDATE_INTERVAL="3600")
    processes.start("manage.py", "rqscheduler", env=env, name="scheduler")
    processes.worker("--with-scheduler", env=env)
    wait_for(lambda: redis_conn.zscore("rq:scheduler:scheduled_jobs", "reconcile-events"), timeout=10)
    redis_conn.flushdb()
    fleets = dispatch_transports(alice, bob, 5)
    redis_conn.flushdb()  # the events of these fleets are now only in the database

    wait_for(lambda: not Fleet.objects.exclude(status="completed").exists(), timeout=30)
    assert redis_conn.zscore("rq:scheduler:scheduled_jobs", "reconcile-events") is not None
    assert all(f.status == "completed" for f in Fleet.objects.filter(pk__in=[f.pk for f in fleets]))
