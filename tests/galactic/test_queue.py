"""The game_events queue against the real Redis and real worker processes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from django.db import transaction
from rq.job import Job

from galactic.events import queue
from tests.conftest import wait_for
from tests.jobs import runs

pytestmark = pytest.mark.django_db(transaction=True)


def soon(seconds: float = 0.0) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


@pytest.mark.django_db  # Redis only: no table to empty after it
def test_redis_connection_answers(redis_conn):
    assert redis_conn.ping() is True
    assert queue.get_queue().name == "game_events"


@pytest.mark.django_db  # Redis only: no table to empty after it
def test_put_creates_a_scheduled_job_with_the_fixed_id(redis_conn):
    assert queue.put("tests.jobs.record", job_id="job-a", at=soon(60), args=("a",)) is True
    job = Job.fetch("job-a", connection=redis_conn)
    assert job.func_name == "tests.jobs.record"
    assert job.args == ("a",)
    assert job.get_status() == "scheduled"
    assert job.retries_left == 3
    assert "job-a" in queue.get_queue().scheduled_job_registry.get_job_ids()


@pytest.mark.django_db  # Redis only: no table to empty after it
def test_a_scheduled_job_stores_only_what_the_event_needs_and_reads_back_whole(redis_conn, settings):
    at = soon(3600)
    queue.put("tests.jobs.record", job_id="job-lean", at=at, args=(7,))
    stored = {k.decode() for k in redis_conn.hgetall(Job.key_for("job-lean"))}
    assert stored == {
        "created_at", "data", "origin", "status", "timeout", "result_ttl",
        "retries_left", "retry_intervals", "meta",
    }  # fmt: skip
    # under the size of RQ's own job hash for the same event (712 bytes with Redis 7)
    assert redis_conn.memory_usage(Job.key_for("job-lean")) <= 400
    job = Job.fetch("job-lean", connection=redis_conn)
    assert (job.func_name, job.args, job.kwargs, job.origin) == ("tests.jobs.record", (7,), {}, "game_events")
    assert job.retries_left == len(settings.GAME_EVENT_RETRY_DELAYS)
    assert job.retry_intervals == settings.GAME_EVENT_RETRY_DELAYS
    assert (job.result_ttl, job.timeout) == (settings.GAME_EVENT_RESULT_TTL, 300)
    assert job.meta["due"] == pytest.approx(at.timestamp())
    assert abs((job.created_at - datetime.now(UTC)).total_seconds()) < 5
    assert job.enqueued_at is None and job.get_status() == "scheduled"
    queue.put("tests.jobs.record", job_id="job-lean-due", at=soon(-1), args=(8,))
    assert Job.fetch("job-lean-due", connection=redis_conn).enqueued_at is not None


@pytest.mark.django_db  # Redis only: no table to empty after it
def test_due_job_goes_straight_to_the_queue(redis_conn):
    queue.put("tests.jobs.record", job_id="job-due", at=soon(-5), args=("due",))
    assert queue.get_queue().job_ids == ["job-due"]
    assert queue.job_status("job-due") == "queued"


@pytest.mark.django_db  # Redis only: no table to empty after it
def test_due_time_is_kept_to_the_millisecond(redis_conn):
    at = soon(30).replace(microsecond=123000)
    queue.put("tests.jobs.record", job_id="job-ms", at=at)
    score = redis_conn.zscore(queue.get_queue().scheduled_job_registry.key, "job-ms")
    assert score == pytest.approx(at.timestamp(), abs=0.0005)


@pytest.mark.django_db  # Redis only: no table to empty after it
def test_same_id_twice_is_one_job(redis_conn):
    assert queue.put("tests.jobs.record", job_id="dup", at=soon(60), args=("first",)) is True
    assert queue.put("tests.jobs.record", job_id="dup", at=soon(120), args=("second",)) is False
    job = Job.fetch("dup", connection=redis_conn)
    assert job.args == ("first",)
    assert queue.get_queue().scheduled_job_registry.get_job_ids() == ["dup"]


def test_same_id_twice_queued_runs_once(redis_conn, processes):
    for _ in range(3):
        queue.put("tests.jobs.record", job_id="dup-run", at=soon(-1), args=("dup-run",))
    assert queue.get_queue().count == 1
    processes.run_burst_worker()
    assert len(runs("dup-run")) == 1


def test_same_id_twice_scheduled_runs_once(redis_conn, processes):
    due = soon(1.5)
    queue.put("tests.jobs.record", job_id="dup-sched", at=due, args=("dup-sched",))
    queue.put("tests.jobs.record", job_id="dup-sched", at=due, args=("dup-sched",))
    processes.worker("--with-scheduler")
    wait_for(lambda: runs("dup-sched"), timeout=15)
    # until nothing is left that could run: a second copy, had there been one, would show here
    wait_for(lambda: nothing_left_to_run("dup-sched"), timeout=15)
    assert len(runs("dup-sched")) == 1


def nothing_left_to_run(job_id: str) -> bool:
    stats = queue.get_queue_stats()
    return not queue.is_live(queue.job_status(job_id)) and stats.waiting == stats.active == stats.delayed == 0


def test_a_finished_id_can_be_scheduled_again(redis_conn, processes):
    queue.put("tests.jobs.record", job_id="again", at=soon(-1), args=("again",))
    processes.run_burst_worker()
    assert queue.put("tests.jobs.record", job_id="again", at=soon(-1), args=("again",)) is True
    processes.run_burst_worker()
    assert len(runs("again")) == 2


def test_delayed_job_waits_for_its_time_then_runs(redis_conn, processes):
    processes.worker("--with-scheduler")
    wait_for(lambda: queue.get_queue_stats().workers == 1)
    due = soon(1.0)
    queue.put("tests.jobs.record", job_id="delayed", at=due, args=("delayed",))
    started = wait_for(lambda: runs("delayed"), timeout=15)
    assert started[0] >= due.timestamp(), "ran before its time"
    assert len(started) == 1


def test_schedule_inside_rolled_back_transaction_never_reaches_redis(redis_conn):
    with pytest.raises(RuntimeError), transaction.atomic():
        queue.schedule("tests.jobs.record", job_id="rolled-back", at=soon(-1))
        assert queue.job_status("rolled-back") is None  # not before the commit either
        raise RuntimeError("roll back")
    assert queue.job_status("rolled-back") is None
    assert queue.get_queue().count == 0


def test_schedule_inside_committed_transaction_is_written_after_commit(redis_conn):
    with transaction.atomic():
        queue.schedule("tests.jobs.record", job_id="committed", at=soon(60))
        assert queue.job_status("committed") is None
    assert queue.job_status("committed") == "scheduled"


def test_failing_job_is_retried_with_growing_delays_then_kept_failed(redis_conn, processes):
    queue.put("tests.jobs.fail_until", job_id="flaky", at=soon(-1), args=("flaky", 99))
    processes.worker("--with-scheduler")
    failed = queue.get_queue().failed_job_registry
    wait_for(lambda: "flaky" in failed.get_job_ids(), timeout=30)
    attempts = runs("flaky")
    assert len(attempts) == 4  # the first run and 3 retries
    gaps = [b - a for a, b in pairwise(attempts)]
    assert gaps[0] < gaps[1] < gaps[2], gaps


def test_failing_job_succeeds_on_retry(redis_conn, processes):
    queue.put("tests.jobs.fail_until", job_id="recovers", at=soon(-1), args=("recovers", 1))
    processes.worker("--with-scheduler")
    wait_for(lambda: len(runs("recovers")) == 2, timeout=20)
    wait_for(lambda: queue.job_status("recovers") is None, timeout=5)  # done: finished jobs are not kept
    assert queue.get_queue().failed_job_registry.get_job_ids() == []


def test_queue_stats_count_each_state(redis_conn, processes):
    assert queue.get_queue_stats().as_dict() == {
        "waiting": 0,
        "active": 0,
        "delayed": 0,
        "completed": 0,
        "failed": 0,
    }
    queue.put("tests.jobs.record", job_id="s-later", at=soon(300))
    queue.put("tests.jobs.record", job_id="s-now", at=soon(-1), args=("s-now",))
    queue.put("tests.jobs.fail_until", job_id="s-fail", at=soon(-1), args=("s-fail", 99))
    stats = queue.get_queue_stats()
    assert (stats.waiting, stats.delayed, stats.workers) == (2, 1, 0)
    # no retries for s-fail, so that one burst pass settles everything
    redis_conn.hset(Job.key_for("s-fail"), "retries_left", 0)
    processes.run_burst_worker()
    stats = queue.get_queue_stats()
    assert stats.as_dict() == {"waiting": 0, "active": 0, "delayed": 1, "completed": 1, "failed": 1}


def test_put_many_sends_one_round_trip_and_survives_a_redis_that_lost_its_scripts(redis_conn):
    """No SCRIPT EXISTS before each pipeline (redis-py's way); after a SCRIPT FLUSH (as a restarted
    Redis) the script is loaded again and every event is still written, once."""

    def script_calls() -> dict[str, int]:
        stats = redis_conn.info("commandstats")
        return {name: stats.get(f"cmdstat_script|{name}", {}).get("calls", 0) for name in ("exists", "load")}

    at = datetime.now(UTC) + timedelta(hours=1)
    redis_conn.script_flush()
    before = script_calls()
    events = [queue.PendingEvent("tests.jobs.record", f"job-{n}", at, (n,)) for n in range(3)]
    assert queue.put_many(events) == [True, True, True]
    assert queue.put_many(events) == [False, False, False]  # live already: left alone
    after = script_calls()
    # (other test runs on this Redis may load their scripts again after the flush: at least ours)
    assert after["exists"] == before["exists"] and after["load"] >= before["load"] + 1
    assert sorted(queue.get_queue().scheduled_job_registry.get_job_ids()) == ["job-0", "job-1", "job-2"]


def test_put_many_writes_more_events_than_one_script_call_takes(redis_conn):
    """PUT_CHUNK events per script call, the calls in one pipeline: every event written once, its
    answer in its place, whether it was new, live already, or due now."""
    later, due = datetime.now(UTC) + timedelta(hours=1), datetime.now(UTC) - timedelta(seconds=1)
    count = queue.PUT_CHUNK * 2 + 7
    events = [
        queue.PendingEvent("tests.jobs.record", f"job-{n}", due if n % 3 == 0 else later, (n,))
        for n in range(count)
    ]
    assert queue.put_many(events[::2]) == [True] * len(events[::2])
    assert queue.put_many(events) == [n % 2 == 1 for n in range(count)]
    rq_queue = queue.get_queue()
    scheduled = set(rq_queue.scheduled_job_registry.get_job_ids())
    queued = rq_queue.get_job_ids()
    assert len(queued) == len(set(queued)) == sum(1 for n in range(count) if n % 3 == 0)
    assert scheduled | set(queued) == {f"job-{n}" for n in range(count)} and not scheduled & set(queued)
