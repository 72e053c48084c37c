"""Between two jobs a moment apart the GameWorker does not check its database connection (no
SELECT 1): a job finds a connection that died since (a restarted PostgreSQL, an administrator's
pg_terminate_backend) and runs again at once on a new one. No attempt is spent on it.

In this process, on the real PostgreSQL and Redis: the connection that dies is this test's own.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.db import connection
from rq import Queue
from rq.job import Job

from galactic.events import queue, rq_compat
from galactic.events.worker import GameWorker
from tests.jobs import runs

pytestmark = pytest.mark.django_db(transaction=True)


def run_one(worker: GameWorker, rq_queue: Queue, job_id: str) -> Job:
    queue.put(
        "tests.jobs.count_users", job_id=job_id, at=datetime.now(UTC) - timedelta(seconds=1), args=(job_id,)
    )
    job, _ = Queue.dequeue_any([rq_queue], None, connection=rq_queue.connection)
    assert job.id == job_id
    worker.execute_job(job, rq_queue)
    return Job.fetch(job_id, connection=rq_queue.connection)


def end_backend(pid: int) -> None:
    """What an administrator or a PostgreSQL restart does to a connection, from another one."""
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"], port=settings["PORT"] or 5432, user=settings["USER"], dbname=settings["NAME"],
        password=settings["PASSWORD"] or None, autocommit=True,
    ) as other:  # fmt: skip
        assert other.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)


@pytest.fixture
def worker(redis_conn, settings) -> tuple[GameWorker, Queue]:
    settings.GAME_EVENT_RESULT_TTL = 600  # keep the finished jobs, to read their status
    rq_queue = queue.get_queue()
    game_worker = GameWorker([rq_queue], connection=redis_conn, name="connections-test")
    game_worker.register_birth()
    return game_worker, rq_queue


@pytest.fixture
def calls(monkeypatch) -> list[str]:
    """The ids of the jobs whose function the worker called, once per call."""
    called, perform = [], rq_compat.perform

    def counting(job: Job) -> object:
        called.append(job.id)
        return perform(job)

    monkeypatch.setattr(rq_compat, "perform", counting)
    return called


def test_a_connection_that_died_between_two_jobs_costs_the_next_one_nothing(worker, calls):
    game_worker, rq_queue = worker
    assert run_one(game_worker, rq_queue, "first").get_status() == "finished"
    dead = connection.connection.info.backend_pid
    end_backend(dead)

    job = run_one(game_worker, rq_queue, "second")  # at once: the connection is not checked

    assert calls == ["first", "second", "second"]  # the dead connection, then a new one
    assert job.get_status() == "finished"
    assert job.retries_left == 3  # not one spent
    assert len(runs("second")) == 1
    assert connection.connection.info.backend_pid != dead
    assert rq_queue.failed_job_registry.get_job_ids() == []


def test_a_connection_is_checked_again_after_a_pause(worker, calls, monkeypatch):
    """Once the last job is DATABASE_TRUST seconds old, Django's health check runs before the next."""
    game_worker, rq_queue = worker
    assert run_one(game_worker, rq_queue, "first").get_status() == "finished"
    monkeypatch.setattr(game_worker, "_database_answered_at", game_worker._database_answered_at - 60)
    end_backend(connection.connection.info.backend_pid)

    assert run_one(game_worker, rq_queue, "second").get_status() == "finished"
    assert calls == ["first", "second"]  # the health check found the dead connection first
