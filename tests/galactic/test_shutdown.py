"""A warm shutdown (SIGTERM) never leaves a job half taken: every event of a steady stream runs once
and soon, across a worker stopped and started again, and an idle worker stops within its wait."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime, timedelta

import pytest

from galactic.events import queue
from tests.conftest import wait_for
from tests.jobs import runs

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_idle_worker_stops_on_sigterm_within_its_wait(redis_conn, processes):
    worker = processes.worker()
    wait_for(lambda: queue.overdue().promoters == 1, timeout=30)
    began = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=10) == 0
    assert time.monotonic() - began < 5
    assert queue.overdue().promoters == 0 and queue.get_queue_stats().workers == 0


def test_events_falling_due_across_a_warm_restart_run_once_and_on_time(redis_conn, processes):
    for _ in range(2):
        processes.worker()
    wait_for(lambda: queue.overdue().promoters == 2, timeout=30)
    start = datetime.now(UTC) + timedelta(seconds=1)
    # 20 a second for 6 s: little enough that two workers on a busy box keep up
    dues = {f"stream-{i}": start + timedelta(seconds=i / 20) for i in range(120)}
    queue.put_many([queue.PendingEvent("tests.jobs.record", k, at, (k,)) for k, at in dues.items()])

    time.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds()) + 2)
    victim = processes.started[0]
    victim.send_signal(signal.SIGTERM)  # mid-stream
    assert victim.wait(timeout=15) == 0
    processes.worker()

    wait_for(lambda: all(runs(name) for name in dues), timeout=30)
    time.sleep(1)  # a second run, had there been one, would show by now
    for name, due in dues.items():
        started = runs(name)
        assert len(started) == 1, (name, started)
        # never stranded until recovery (10 s and more after the stop); the bound leaves room for a
        # busy box, where the one worker left carries the stream while the other starts
        assert due.timestamp() <= started[0] < due.timestamp() + 9, (name, started[0] - due.timestamp())
    assert redis_conn.llen(f"{queue.get_queue().key}:intermediate") == 0
