"""An upgrade across the move of the queue code into galactic/events: what the previous release
wrote to Redis (periodic registrations and runs under the old dotted paths, pending events) runs
under the new code, and the scheduler rewrites the old registration to the new path."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from redis import Redis
from rq.job import Job
from rq.registry import FailedJobRegistry

from fleets.models import Fleet
from fleets.services import fleet_dispatch
from galactic.events import queue
from galactic.events.scheduler import GameScheduler
from tests.conftest import Processes

pytestmark = pytest.mark.django_db(transaction=True)

OLD_RECONCILE = "galactic.jobs.reconcile_events"
NEW_RECONCILE = "galactic.events.jobs.reconcile_events"


def scheduler_pass(conn: Redis) -> None:
    GameScheduler(queue_name=queue.QUEUE_NAME, interval=1, connection=conn).register_periodic_jobs()


def test_old_paths_still_import_to_the_same_modules():
    import galactic.jobs
    import galactic.queue
    import galactic.worker
    from galactic.events import jobs, worker

    assert galactic.jobs is jobs and galactic.queue is queue and galactic.worker is worker
    assert galactic.jobs.reconcile_events is jobs.reconcile_events


def test_state_written_by_the_old_paths_runs_under_the_new_code(
    redis_conn: Redis, processes: Processes, make_player, settings
):
    # What the previous release left in Redis: the periodic registration and one due run of
    # reconcile under the old path, and a pending fleet arrival.
    settings.GAME_SPEED = 100_000  # the fleet's events are due at once
    settings.GAME_PERIODIC_JOBS = [("reconcile-events", OLD_RECONCILE, 30)]
    scheduler_pass(redis_conn)
    assert Job.fetch("reconcile-events", connection=redis_conn).func_name == OLD_RECONCILE
    old_run = "reconcile-events-1700000000"
    queue.put(OLD_RECONCILE, job_id=old_run, at=datetime(2023, 11, 14, tzinfo=UTC))
    alice, bob = make_player("alice"), make_player("bob")
    fleet = fleet_dispatch(
        player=alice.player,
        origin_id=alice.home.pk,
        target_id=bob.home.pk,
        mission="transport",
        ships={"small_cargo": 1},
        cargo={"metal": 10},
    )

    # The new release's scheduler brings the registration up to date, keeping its place.
    settings.GAME_PERIODIC_JOBS = [("reconcile-events", NEW_RECONCILE, 30)]
    due_before = redis_conn.zscore(GameScheduler.scheduled_jobs_key, "reconcile-events")
    scheduler_pass(redis_conn)
    assert Job.fetch("reconcile-events", connection=redis_conn).func_name == NEW_RECONCILE
    assert redis_conn.zscore(GameScheduler.scheduled_jobs_key, "reconcile-events") == due_before

    processes.run_burst_worker()

    assert queue.job_status(old_run) is None  # ran and was not kept (GAME_EVENT_RESULT_TTL=0)
    assert not FailedJobRegistry(queue.QUEUE_NAME, connection=redis_conn).get_job_ids(), processes.logs()
    fleet.refresh_from_db()
    assert fleet.status == Fleet.Status.COMPLETED, processes.logs()
