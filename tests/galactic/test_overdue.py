"""Delayed events overdue with nobody moving them: /health, /metrics, the scheduler's log and the
stuck-events page say so, with real processes (a plain `rq worker`, rqscheduler, then a GameWorker)."""

from __future__ import annotations

import re
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from galactic.events import queue
from tests.conftest import process_env, wait_for
from tests.jobs import runs

pytestmark = pytest.mark.django_db(transaction=True)

RQ_CLI = str(Path(sys.executable).parent / "rq")


def overdue_gauge(client) -> float:
    text = client.get("/metrics").content.decode()
    return float(re.search(r"^game_events_oldest_overdue_seconds (\S+)$", text, re.M).group(1))


def make_overdue(redis_conn, job_id: str, by: float) -> None:
    """A delayed event whose due time passed `by` seconds ago, still in the scheduled registry."""
    queue.put("tests.jobs.record", job_id=job_id, at=datetime.now(UTC) + timedelta(hours=1), args=(job_id,))
    redis_conn.zadd(queue.get_queue().scheduled_job_registry.key, {job_id: time.time() - by})


def test_overdue_events_nobody_moves_are_reported_until_a_game_worker_runs(
    client, admin_user, redis_conn, processes
):
    client.force_login(admin_user)
    assert client.get("/health").status_code == 200
    assert overdue_gauge(client) == 0

    env = process_env()
    # A worker of another class, without --with-scheduler: it runs queued jobs, never delayed ones.
    processes.start(RQ_CLI, "worker", queue.QUEUE_NAME, "--url", env["REDIS_URL"], name="plain-rq")
    processes.start("manage.py", "rqscheduler", env=env, name="scheduler")
    wait_for(lambda: queue.get_queue_stats().workers == 1, timeout=30)
    make_overdue(redis_conn, "fleet-arrival-77", by=30)

    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error" and body["redis"] == "ok" and body["database"] == "ok"
    assert "1 delayed event(s) overdue" in body["reason"] and "no live game worker" in body["reason"]
    assert overdue_gauge(client) >= 30
    page = client.get("/admin/stuck-events/").content.decode()
    assert 'id="delayed-diagnosis"' in page and "Delayed events are not moving." in page
    wait_for(lambda: "no live game worker moves delayed events" in processes.logs(tail=None), timeout=20)

    processes.worker()  # a game worker, no flags: its promoter moves the event at once
    wait_for(lambda: runs("fleet-arrival-77"), timeout=30)
    assert client.get("/health").status_code == 200
    assert overdue_gauge(client) == 0
    assert (
        "Delayed events move on time: 1 live worker moves them"
        in client.get("/admin/stuck-events/").content.decode()
    )


def test_events_late_by_less_than_the_grace_keep_health_green(client, redis_conn):
    make_overdue(redis_conn, "fleet-arrival-78", by=queue.OVERDUE_GRACE / 2)
    assert client.get("/health").status_code == 200
    late = queue.overdue()
    assert late.count == 1 and 0 < late.oldest_seconds < queue.OVERDUE_GRACE and late.promoters == 0
