"""A job whose worker is SIGKILLed mid-job runs again on another worker, within seconds."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime, timedelta

import pytest
from rq.job import Job

from galactic.events import queue
from tests.conftest import wait_for
from tests.jobs import runs

pytestmark = pytest.mark.django_db(transaction=True)


def test_job_of_a_killed_worker_runs_again_elsewhere_within_30_seconds(redis_conn, processes):
    victim = processes.worker()
    wait_for(lambda: queue.get_queue_stats().workers == 1)
    queue.put("tests.jobs.slow", job_id="long-job", at=datetime.now(UTC), args=("long-job", 3))
    wait_for(lambda: runs("long-job"), timeout=15)

    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed_at = time.time()
    assert queue.get_queue_stats().active == 1  # RQ still believes it runs
    processes.worker()

    wait_for(lambda: runs("long-job:done"), timeout=30)
    recovered_after = runs("long-job")[1] - killed_at
    assert len(runs("long-job")) == 2 and len(runs("long-job:done")) == 1
    assert recovered_after < 30, recovered_after
    wait_for(lambda: queue.job_status("long-job") is None, timeout=5)  # done: finished jobs are not kept
    assert queue.get_queue_stats().active == 0


def test_dead_workers_are_not_counted(redis_conn, processes):
    victim = processes.worker()
    wait_for(lambda: queue.get_queue_stats().workers == 1)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    wait_for(lambda: queue.get_queue_stats().workers == 0, timeout=queue.LIVENESS_TTL + 2)


def test_live_workers_jobs_are_never_taken_away(redis_conn, processes):
    processes.worker()
    queue.put(
        "tests.jobs.slow", job_id="steady", at=datetime.now(UTC), args=("steady", queue.LIVENESS_TTL * 2)
    )
    wait_for(lambda: runs("steady:done"), timeout=30)
    assert queue.recover_abandoned() == 0
    assert len(runs("steady")) == 1


def _job_in_the_start_gap(redis_conn, worker: str) -> str:
    """A job as RQ leaves it for one round trip: its execution registered under the worker's
    name, the job hash not yet marked started nor given the worker's name."""
    queue.put("tests.jobs.record", job_id="in-gap", at=datetime.now(UTC) + timedelta(hours=1))
    member = "in-gap:exec1"
    q = queue.get_queue()
    redis_conn.zrem(q.scheduled_job_registry.key, "in-gap")
    redis_conn.hset(Job.key_for("in-gap"), "status", "queued")  # dequeued, not yet started
    redis_conn.zadd(q.started_job_registry.key, {member: time.time() + 60})
    redis_conn.hset(f"rq:execution:{member}", "worker_name", worker)
    redis_conn.hset(f"rq:worker:{worker}", "liveness", "1")
    return member


@pytest.mark.django_db  # Redis only: no table to empty after it
def test_a_job_between_registration_and_start_is_not_taken_from_a_live_worker(redis_conn):
    _job_in_the_start_gap(redis_conn, "busy-worker")
    redis_conn.set(queue.liveness_key("busy-worker"), 1, ex=10)
    assert queue.recover_abandoned() == 0
    assert queue.get_queue().count == 0


@pytest.mark.django_db  # Redis only: no table to empty after it
def test_a_job_whose_worker_died_in_that_gap_is_handed_back(redis_conn):
    _job_in_the_start_gap(redis_conn, "dead-worker")  # no liveness key: the worker is gone
    assert queue.recover_abandoned() == 1
    assert queue.get_queue().job_ids == ["in-gap"]
    assert queue.recover_abandoned() == 0  # once
