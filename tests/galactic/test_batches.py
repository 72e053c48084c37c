"""The GameWorker runs due jobs of one kind in batches, and keeps RQ's semantics for each job.

Real worker processes on the real Redis, with tests.jobs.tally: a batchable job kind that records
its runs in Redis, all or nothing per batch, as a database transaction would.
"""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime, timedelta

import pytest
from rq.job import Job

from galactic.events import queue
from tests.conftest import process_env, wait_for
from tests.jobs import TALLY_PREFIX, batch_sizes, runs

pytestmark = pytest.mark.django_db(transaction=True)


def put_tallies(names: list[str], due: datetime | None = None) -> None:
    due = due or datetime.now(UTC) - timedelta(seconds=1)
    queue.put_many([queue.PendingEvent("tests.jobs.tally", f"{TALLY_PREFIX}{n}", due, (n,)) for n in names])


def assert_nothing_left(redis_conn) -> None:
    q = queue.get_queue()
    assert redis_conn.llen(q.key) == 0
    assert redis_conn.llen(q.intermediate_queue_key) == 0
    assert redis_conn.zcard(q.started_job_registry.key) == 0
    assert not redis_conn.keys("rq:execution:*")


def test_due_jobs_of_one_kind_run_once_each_in_one_batch(redis_conn, processes):
    names = [f"n{i}" for i in range(30)]
    put_tallies(names)
    processes.run_burst_worker()
    assert all(len(runs(name)) == 1 for name in names)
    assert batch_sizes() == [30]
    assert_nothing_left(redis_conn)
    assert all(queue.job_status(f"{TALLY_PREFIX}{name}") is None for name in names)  # finished, not kept
    assert queue.get_queue_stats().completed == 30
    assert "batch=30 outcome=ok" in processes.logs(tail=None)


def test_finished_jobs_of_a_batch_are_kept_as_rq_keeps_them_when_a_result_ttl_is_set(
    redis_conn, processes, settings
):
    settings.GAME_EVENT_RESULT_TTL = 600  # read by put()
    put_tallies(["a", "b", "c"])
    processes.run_burst_worker()
    assert batch_sizes() == [3]
    for name in ("a", "b", "c"):
        job = Job.fetch(f"{TALLY_PREFIX}{name}", connection=redis_conn)
        assert job.get_status() == "finished"
        assert job.return_value() == name
        assert job.started_at <= job.ended_at
    assert redis_conn.zcard(queue.get_queue().finished_job_registry.key) == 3
    assert_nothing_left(redis_conn)


def test_a_batch_takes_its_kind_from_among_other_jobs_which_keep_their_order(redis_conn, processes):
    due = datetime.now(UTC) - timedelta(seconds=1)
    events = []
    for i in range(12):
        if i % 4 == 3:  # a job of another kind every fourth place
            events.append(queue.PendingEvent("tests.jobs.record", f"other-{i}", due, (f"other-{i}",)))
        else:
            events.append(queue.PendingEvent("tests.jobs.tally", f"{TALLY_PREFIX}t{i}", due, (f"t{i}",)))
    queue.put_many(events)
    processes.run_burst_worker()
    assert batch_sizes() == [9]  # every tally in one batch, though others stood between them
    others = [runs(f"other-{i}")[0] for i in (3, 7, 11)]
    assert others == sorted(others)  # the others, after it, in their order
    assert all(len(runs(e.args[0])) == 1 for e in events)
    assert max(runs(f"t{i}")[0] for i in range(12) if i % 4 != 3) <= others[0]
    assert_nothing_left(redis_conn)


def test_a_batch_looks_only_so_far_down_the_queue(redis_conn, processes):
    names = [f"w{i}" for i in range(4)]
    due = datetime.now(UTC) - timedelta(seconds=1)
    # batch size 2: the window is 4 jobs (queue.CLAIM_WINDOW x 1 more): w0, then o0-o3, then w1-w3
    events = [queue.PendingEvent("tests.jobs.tally", f"{TALLY_PREFIX}w0", due, ("w0",))]
    events += [queue.PendingEvent("tests.jobs.record", f"o{i}", due, (f"o{i}",)) for i in range(4)]
    events += [queue.PendingEvent("tests.jobs.tally", f"{TALLY_PREFIX}{n}", due, (n,)) for n in names[1:]]
    queue.put_many(events)
    processes.run_burst_worker(env=process_env(GAME_EVENT_BATCH_SIZE="2"))
    assert batch_sizes() == [1, 2, 1]  # w0 found no partner within its window; then w1+w2, w3
    assert all(len(runs(name)) == 1 for name in [*names, "o0", "o1", "o2", "o3"])
    assert_nothing_left(redis_conn)


def test_a_failing_batch_runs_its_jobs_one_by_one_and_only_the_bad_one_fails(redis_conn, processes):
    names = ["g1", "g2", "bad", "g3", "g4"]
    put_tallies(names)
    processes.run_burst_worker()
    assert all(len(runs(name)) == 1 for name in names if name != "bad")
    assert runs("bad") == []
    assert batch_sizes() == [1, 1, 1, 1]  # the batch of 5 failed before recording; then one by one
    job = Job.fetch(f"{TALLY_PREFIX}bad", connection=redis_conn)
    assert job.get_status() == "scheduled"  # RQ's retry, with the configured delay
    assert job.retries_left == len(queue.settings.GAME_EVENT_RETRY_DELAYS) - 1
    assert "planned failure in a batch of 5" in processes.logs(tail=None)


def test_batches_can_be_turned_off(redis_conn, processes):
    names = [f"s{i}" for i in range(5)]
    put_tallies(names)
    processes.run_burst_worker(env=process_env(GAME_EVENT_BATCH_SIZE="1"))
    assert batch_sizes() == [1] * 5
    assert all(len(runs(name)) == 1 for name in names)


def test_a_batch_whose_worker_is_killed_runs_again_elsewhere(redis_conn, processes):
    redis_conn.set("test:tally:pause", 30)
    names = [f"k{i}" for i in range(20)]
    victim = processes.worker("--with-scheduler")
    wait_for(lambda: queue.get_queue_stats().workers == 1)
    put_tallies(names, due=datetime.now(UTC) + timedelta(seconds=1))  # promoted together
    wait_for(lambda: queue.get_queue_stats().active == 20)  # all started, in one batch
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed_at = time.time()
    redis_conn.delete("test:tally:pause")
    processes.worker()
    wait_for(lambda: all(runs(name) for name in names), timeout=30)
    assert all(len(runs(name)) == 1 for name in names)  # the killed batch wrote nothing
    assert max(runs(name)[0] for name in names) - killed_at < 30
    wait_for(lambda: queue.get_queue_stats().active == 0, timeout=5)


def test_a_job_with_the_kinds_id_prefix_but_another_function_runs_on_its_own(redis_conn, processes):
    due = datetime.now(UTC) - timedelta(seconds=1)
    queue.put_many(
        [
            queue.PendingEvent("tests.jobs.tally", f"{TALLY_PREFIX}a", due, ("a",)),
            queue.PendingEvent("tests.jobs.record", f"{TALLY_PREFIX}b", due, ("b",)),
            queue.PendingEvent("tests.jobs.tally", f"{TALLY_PREFIX}c", due, ("c",)),
        ]
    )
    processes.run_burst_worker()
    assert [len(runs(name)) for name in ("a", "b", "c")] == [1, 1, 1]
    assert batch_sizes() == [2]
    assert_nothing_left(redis_conn)
