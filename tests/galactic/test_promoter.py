"""Every GameWorker moves delayed events on time, whatever command line started it; and the promoters'
wait ends on the client's clock, not on Redis's coarse server-side timeouts."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from rq.scheduler import SCHEDULER_LOCKING_KEY_TEMPLATE

from galactic.events import queue
from tests.conftest import wait_for
from tests.jobs import runs

pytestmark = pytest.mark.django_db(transaction=True)


def soon(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


COMMAND_LINES = {
    "rqworker": ("manage.py", "rqworker", queue.QUEUE_NAME),
    "rqworker --with-scheduler": ("manage.py", "rqworker", queue.QUEUE_NAME, "--with-scheduler"),
    "rqworker-pool --num-workers 2": ("manage.py", "rqworker-pool", queue.QUEUE_NAME, "--num-workers", "2"),
}


@pytest.mark.parametrize("command", COMMAND_LINES, ids=list(COMMAND_LINES))
def test_every_command_line_runs_delayed_events_on_time_and_never_early(redis_conn, processes, command):
    expected_workers = 2 if "pool" in command else 1
    processes.start(*COMMAND_LINES[command], name="worker")
    wait_for(lambda: queue.overdue().promoters == expected_workers, timeout=30)
    dues = {f"late-{i}": soon(0.5 + i * 0.4) for i in range(3)}
    for name, due in dues.items():
        queue.put("tests.jobs.record", job_id=name, at=due, args=(name,))

    for name, due in dues.items():
        started = wait_for(lambda name=name: runs(name), timeout=15)
        assert len(started) == 1
        assert started[0] >= due.timestamp(), f"{name} ran {due.timestamp() - started[0]:.3f} s early"
    # RQ's own scheduler (which fires early) never ran beside the promoters
    assert not redis_conn.exists(SCHEDULER_LOCKING_KEY_TEMPLATE % queue.QUEUE_NAME)
    assert queue.get_queue_stats().workers == expected_workers


def test_a_burst_worker_promotes_what_is_due_without_any_flag(redis_conn, processes):
    queue.put("tests.jobs.record", job_id="burst-due", at=soon(0.2), args=("burst-due",))
    queue.put("tests.jobs.record", job_id="burst-later", at=soon(300), args=("burst-later",))
    wait_for(lambda: queue.overdue().count == 1, timeout=5)  # due, and nobody promoted it
    proc = processes.worker("--burst")
    assert proc.wait(timeout=60) == 0, processes.logs()
    assert len(runs("burst-due")) == 1
    assert runs("burst-later") == [] and queue.job_status("burst-later") == "scheduled"
    assert queue.overdue().promoters == 0  # a burst worker is no standing promoter


def test_an_earlier_event_wakes_a_promoter_that_sleeps_until_a_later_one(redis_conn, processes):
    processes.worker()
    wait_for(lambda: queue.overdue().promoters == 1, timeout=30)
    queue.put("tests.jobs.record", job_id="far", at=soon(600), args=("far",))
    time.sleep(0.3)  # the promoter now waits for "far" (at most MAX_PROMOTER_SLEEP at a time)
    due = soon(0.15)
    queue.put("tests.jobs.record", job_id="near", at=due, args=("near",))
    started = wait_for(lambda: runs("near"), timeout=10)
    assert due.timestamp() <= started[0] < due.timestamp() + 0.5


def test_the_wait_ends_on_the_clients_clock_not_on_redis_ticks(redis_conn):
    wake = queue.Wake(redis_conn)
    try:
        overshoots = []
        for timeout in (0.013, 0.05, 0.2):
            began = time.perf_counter()
            assert wake.wait(timeout) is False
            overshoots.append(time.perf_counter() - began - timeout)
        # a server-side timeout ends on Redis's next tick: up to 100 ms late with the stock hz 10
        assert min(overshoots) >= 0 and max(overshoots) < 0.03, overshoots
    finally:
        wake.close()


def test_a_put_due_sooner_than_the_earliest_wakes_the_waiting_promoters(redis_conn):
    wake = queue.Wake(redis_conn)
    try:
        queue.put("tests.jobs.record", job_id="w-later", at=soon(60))
        assert wake.wait(0.5) is True  # the first scheduled job: due sooner than nothing
        queue.put("tests.jobs.record", job_id="w-latest", at=soon(120))
        assert wake.wait(0.2) is False  # later than the earliest: the promoters' timer covers it
        queue.put("tests.jobs.record", job_id="w-sooner", at=soon(30))
        began = time.perf_counter()
        assert wake.wait(5) is True
        assert time.perf_counter() - began < 0.5
    finally:
        wake.close()
