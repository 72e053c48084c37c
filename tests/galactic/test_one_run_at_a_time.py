"""Crash recovery never runs a job twice at once: workers killed at random while jobs start and end,
checked through PostgreSQL; and the stranded-marker race that once let it happen, step by step."""

from __future__ import annotations

import itertools
import random
import signal
import time
from datetime import UTC, datetime

import pytest
from django.db import connection
from rq.job import Job

from galactic.events import queue
from tests.conftest import process_env, wait_for
from tests.jobs import RUNS_TABLE

pytestmark = pytest.mark.django_db(transaction=True)


def _dequeue(redis_conn, job_id: str) -> None:
    """What RQ's dequeue does for a worker: the job moves from the queue to the intermediate list."""
    q = queue.get_queue()
    assert redis_conn.lmove(q.key, q.intermediate_queue_key) == job_id.encode()


def _age_marker(redis_conn, job_id: str) -> None:
    """Make the stranded marker look older than the grace period (as if 10 s had passed)."""
    redis_conn.expire(f"gc:stranded:{job_id}", queue.INTERMEDIATE_GRACE * 2 - 1)


def test_an_old_marker_never_hands_back_a_job_a_live_worker_just_dequeued(redis_conn):
    queue.put("tests.jobs.record", job_id="again", at=datetime.now(UTC), args=("again",))
    _dequeue(redis_conn, "again")
    assert queue.recover_abandoned() == 0  # first sighting: the clock starts
    # a live worker took it; it was handed back later (crash), and is dequeued again just now
    q = queue.get_queue()
    redis_conn.lrem(q.intermediate_queue_key, 1, "again")
    redis_conn.hset(Job.key_for("again"), "enqueued_at", "2026-11-29T00:00:01.000000Z")
    redis_conn.rpush(q.key, "again")
    _dequeue(redis_conn, "again")
    _age_marker(redis_conn, "again")  # the marker of the first sighting is old by now
    assert queue.recover_abandoned() == 0
    assert redis_conn.lrange(q.intermediate_queue_key, 0, -1) == [b"again"]
    assert q.count == 0


def test_a_stranded_job_is_handed_back_and_the_slow_worker_cannot_start_it(redis_conn):
    queue.put("tests.jobs.record", job_id="slow-start", at=datetime.now(UTC), args=("slow-start",))
    _dequeue(redis_conn, "slow-start")
    assert queue.recover_abandoned() == 0
    _age_marker(redis_conn, "slow-start")
    assert queue.recover_abandoned() == 1
    q = queue.get_queue()
    assert q.job_ids == ["slow-start"]
    # the worker that dequeued it was only slow, not dead: it must not run it now
    job = q.fetch_job("slow-start")
    taken = queue.take(q, job, worker_name="slow", worker_key="rq:worker:slow", ttl=60, via_intermediate=True)
    assert taken is None
    assert redis_conn.hget(Job.key_for("slow-start"), "status") == b"queued"


@pytest.fixture
def runs_table():
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {RUNS_TABLE} (id serial PRIMARY KEY, name text NOT NULL, "
            "pid int NOT NULL, started timestamptz NOT NULL, ended timestamptz, alone boolean NOT NULL)"
        )
        cursor.execute(f"TRUNCATE {RUNS_TABLE}")
    yield
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {RUNS_TABLE}")


def _runs() -> list[tuple[str, int, datetime, datetime | None, bool]]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT name, pid, started, ended, alone FROM {RUNS_TABLE} ORDER BY started")
        return cursor.fetchall()


def _done() -> set[str]:
    return {name for name, _, _, ended, _ in _runs() if ended is not None}


def test_workers_killed_at_random_never_run_a_job_twice_at_once(redis_conn, processes, runs_table):
    """Four workers; jobs of 0.05 to 0.6 s; for 25 s a random worker is SIGKILLed every 0.3 to
    1.2 s and replaced at once. Every job ends up done, and PostgreSQL saw no two runs of one job
    overlap: no run failed to take the job's advisory lock, and no two finished runs intersect."""
    env = process_env(GAME_EVENT_MAX_HANDBACKS="1000")  # this test is about overlap, not budgets
    workers = [processes.worker("--with-scheduler", env=env) for _ in range(4)]
    wait_for(lambda: queue.get_queue_stats().workers == 4, timeout=30)
    rng = random.Random(13)
    names = [f"hammer-{i}" for i in range(120)]
    for i, name in enumerate(names):
        at = datetime.fromtimestamp(time.time() + i * 0.2, UTC)  # jobs start and end all along
        queue.put("tests.jobs.exclusive", job_id=name, at=at, args=(name, rng.uniform(0.05, 0.6)))
    kills = 0
    deadline = time.monotonic() + 25
    while time.monotonic() < deadline:
        time.sleep(rng.uniform(0.3, 1.2))
        victim = rng.randrange(len(workers))
        workers[victim].send_signal(signal.SIGKILL)
        workers[victim].wait()
        workers[victim] = processes.worker("--with-scheduler", env=env)
        kills += 1
    try:
        wait_for(lambda: _done() == set(names), timeout=120, interval=0.5)
    except AssertionError:
        left = sorted(set(names) - _done())
        raise AssertionError({name: queue.job_status(name) for name in left}) from None
    runs = _runs()
    assert kills >= 20
    assert len(runs) > len(names), "no job was ever killed mid-run: the test proved nothing"
    assert all(alone for *_, alone in runs), [r for r in runs if not r[4]]
    finished: dict[str, list[tuple[datetime, datetime]]] = {}
    for name, _, started, ended, _ in runs:
        if ended is not None:
            finished.setdefault(name, []).append((started, ended))
    for name, spans in finished.items():
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert start >= end, f"{name} ran twice at once: {spans}"
