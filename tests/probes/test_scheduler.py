"""probe:update is registered once with rq-scheduler and runs every PROBE_UPDATE_INTERVAL seconds,
with real `manage.py rqscheduler` and worker processes against the test Redis."""

from __future__ import annotations

import signal
import time
from itertools import pairwise

import pytest
from redis import Redis
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry

from galactic.events import queue
from tests.conftest import process_env, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

SCHEDULED = "rq:scheduler:scheduled_jobs"
FUNC = "probes.jobs.probe_update"
RUN_PREFIX = "probe-update-"


def registrations(conn: Redis) -> list[str]:
    """Ids of rq-scheduler entries that would run probe:update."""
    found = []
    for member in conn.zrange(SCHEDULED, 0, -1):
        job_id = member.decode()
        func = conn.hget(Job.key_for(job_id), "description")  # loaded without unpickling
        if job_id.startswith("probe-update") or (func and FUNC.encode() in func):
            found.append(job_id)
    return found


def run_ids(conn: Redis) -> list[str]:
    """Every probe:update run that exists in Redis (queued, started, finished or failed)."""
    ids = (key.decode().removeprefix("rq:job:") for key in conn.scan_iter(match=f"rq:job:{RUN_PREFIX}*"))
    return sorted(job_id for job_id in ids if ":" not in job_id)  # not the jobs' side keys


def scheduler(processes, env=None):
    # -v 2: rq-scheduler logs "Entering run loop" at each pass, which passes() counts
    return processes.start("manage.py", "rqscheduler", "-v", "2", env=env, name="scheduler")


def passes(proc) -> int:
    """How many passes the scheduler started so far."""
    return proc.log_path.read_text(errors="replace").count("Entering run loop")


def stop(proc) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0


def test_restarting_the_scheduler_keeps_one_registration(redis_conn, processes):
    first = scheduler(processes)
    wait_for(lambda: registrations(redis_conn))
    stop(first)
    second = scheduler(processes)
    wait_for(lambda: passes(second) >= 3 or second.poll() is not None, timeout=15)
    assert second.poll() is None, processes.logs()

    assert registrations(redis_conn) == ["probe-update"]
    # With the default interval (60 s) the restart must not have fired a second run.
    assert len(run_ids(redis_conn)) == 1, run_ids(redis_conn)


def test_two_schedulers_at_once_keep_one_registration(redis_conn, processes):
    pair = [scheduler(processes) for _ in range(2)]
    wait_for(lambda: registrations(redis_conn))
    # The first run: rq-scheduler reads the time in whole seconds, so a registration is due at the
    # pass after the next second, whichever scheduler holds the lock then.
    wait_for(lambda: run_ids(redis_conn), timeout=15)
    # then several more passes each (one may skip a pass while the other holds rq-scheduler's lock)
    seen = [passes(p) for p in pair]
    wait_for(
        lambda: all(passes(p) >= n + 3 or p.poll() is not None for p, n in zip(pair, seen, strict=True)),
        timeout=15,
    )
    assert all(proc.poll() is None for proc in pair), processes.logs()

    assert registrations(redis_conn) == ["probe-update"]
    assert len(run_ids(redis_conn)) == 1, run_ids(redis_conn)


def finished_runs(conn: Redis) -> list[str]:
    registry = FinishedJobRegistry(queue.QUEUE_NAME, connection=conn)
    return sorted(job_id for job_id in registry.get_job_ids() if job_id.startswith(RUN_PREFIX))


def test_probe_update_runs_every_interval(redis_conn, processes):
    # finished runs kept for a while, so that their ids (their due times) can be read back
    env = process_env(PROBE_UPDATE_INTERVAL="2", RECONCILE_INTERVAL="3600", GAME_EVENT_RESULT_TTL="600")
    processes.worker("--with-scheduler", env=env)
    clock = scheduler(processes, env=env)
    wait_for(lambda: registrations(redis_conn))
    started = time.time()
    wait_for(lambda: len(finished_runs(redis_conn)) >= 8, timeout=40)
    stop(clock)
    stopped = time.time()
    # Let the worker finish what the scheduler handed it.
    wait_for(lambda: len(finished_runs(redis_conn)) == len(run_ids(redis_conn)), timeout=10)

    runs = finished_runs(redis_conn)
    # one run per interval over the time the scheduler ran (the first at registration)
    expected = (stopped - started) / 2
    assert expected - 1.5 <= len(runs) <= expected + 1.5, (runs, processes.logs())
    dues = sorted(int(job_id.removeprefix(RUN_PREFIX)) for job_id in runs)
    assert {b - a for a, b in pairwise(dues)} == {2}, dues  # no drift, no duplicate
    assert not FailedJobRegistry(queue.QUEUE_NAME, connection=redis_conn).get_job_ids()
