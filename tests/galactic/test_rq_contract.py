"""Contract tests: what our Lua scripts and batch path write is what RQ itself writes.

galactic/events/rq_compat.py (with the scripts of galactic/events/queue.py and the batch path of
galactic/events/worker.py) re-creates part of RQ's private Redis layout so that a put, a claim, a
batch, a requeue and a promotion each take one round trip. Each test here builds the same state
twice, once through RQ's own code and once through ours, in this process (no worker process), and
compares every key, field, TTL and registry member; the differences we make on purpose are listed
in each test. Then RQ's public readers (Job.fetch, StartedJobRegistry, Execution.fetch,
ScheduledJobRegistry, django-rq's views) must read what we wrote.

When RQ, rq-scheduler or django-rq is upgraded, test_rq_is_the_version_these_tests_were_written_for
fails first: re-check rq_compat against the new RQ, run these tests, then update WRITTEN_FOR.
"""

from __future__ import annotations

import base64
import re
import time
import zlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from importlib.metadata import version

import pytest
from django.urls import reverse
from redis import Redis
from rq import Queue, Retry
from rq.executions import Execution, ExecutionRegistry
from rq.job import Job
from rq.registry import FinishedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from rq.scheduler import RQScheduler
from rq.worker import SimpleWorker

from galactic.events import metrics, queue, rq_compat
from galactic.events.worker import GameWorker

pytestmark = pytest.mark.django_db  # the batch path and django-rq's pages use the database

WRITTEN_FOR = {"rq": "2.12.0", "rq-scheduler": "0.14.0", "django-rq": "4.2.0"}

WORKER = "contract-worker"
EXECUTION_ID = re.compile(r"\b[0-9a-f]{32}\d*\b")  # RQ's uuid4().hex, or ours (a hex prefix and a count)
TIMES = {"created_at", "enqueued_at", "started_at", "ended_at", "last_heartbeat", "birth", "death"}
STREAM_TIMES = {"execution_started_at", "execution_ended_at"}


def test_rq_is_the_version_these_tests_were_written_for():
    installed = {name: version(name) for name in WRITTEN_FOR}
    assert installed == WRITTEN_FOR, (
        f"installed {installed}, these tests were written for {WRITTEN_FOR}: re-check "
        "galactic/events/rq_compat.py against the new RQ, run tests/galactic/test_rq_contract.py, "
        "then update WRITTEN_FOR"
    )


# --- a comparable picture of Redis -------------------------------------------------------------------


def _text(value: bytes) -> str | bytes:
    try:
        return EXECUTION_ID.sub("<execution>", value.decode())
    except UnicodeDecodeError:  # pickled or compressed data: compared as it is
        return value


def _field(name: str, value: bytes) -> str | bytes:
    if name in TIMES or name in STREAM_TIMES:
        return "<time>" if value else ""
    if name in ("pid", "ip_address", "python_version", "hostname", "total_working_time"):
        return "<set>" if value else ""
    return _text(value)


def _in(seconds: float | int) -> str | int:
    """A score or TTL as "how far from now", to 5 s (RQ counts whole seconds, we count milliseconds)."""
    if seconds in (-1, float("inf")):
        return "never"
    return round((seconds - (time.time() if seconds > 1e9 else 0)) / 5)


def snapshot(conn: Redis, *, without: tuple[str, ...] = ()) -> dict[str, tuple]:
    """Every key: its type, when it expires and its content, with times, execution ids and this
    process's particulars made comparable."""
    state = {}
    for raw in conn.keys("*"):
        key = _text(raw)
        if key.startswith(without):
            continue
        kind = conn.type(raw).decode()
        if kind == "hash":
            content = {k.decode(): _field(k.decode(), v) for k, v in conn.hgetall(raw).items()}
        elif kind == "zset":
            content = {_text(m): _in(s) for m, s in conn.zrange(raw, 0, -1, withscores=True)}
        elif kind == "list":
            content = [_text(v) for v in conn.lrange(raw, 0, -1)]
        elif kind == "set":
            content = sorted(_text(v) for v in conn.smembers(raw))
        elif kind == "stream":
            content = [{k.decode(): _field(k.decode(), v) for k, v in e.items()} for _, e in conn.xrange(raw)]
        else:
            content = _text(conn.get(raw))
        state[key] = (kind, _in(conn.ttl(raw)), content)
    return state


def differences(ours: dict[str, tuple], theirs: dict[str, tuple]) -> set[str]:
    """Where the two pictures differ: "key" (only in one, or another type or TTL), "key field"."""
    found = set()
    for key in ours.keys() | theirs.keys():
        if key not in ours or key not in theirs or ours[key][:2] != theirs[key][:2]:
            found.add(key)
        elif isinstance(ours[key][2], dict):
            mine, rq = ours[key][2], theirs[key][2]
            found |= {f"{key} {name}" for name in mine.keys() | rq.keys() if mine.get(name) != rq.get(name)}
        elif ours[key][2] != theirs[key][2]:
            found.add(key)
    return found


def both_ways(conn: Redis, build_rq, build_ours, **options) -> tuple[dict, dict]:
    """The picture after RQ's way, and after ours, each from an empty Redis."""
    conn.flushdb()
    build_rq()
    theirs = snapshot(conn, **options)
    conn.flushdb()
    build_ours()
    return snapshot(conn, **options), theirs


# --- the states, built both ways ---------------------------------------------------------------------


@pytest.fixture
def game_queue(redis_conn, settings, monkeypatch) -> Queue:
    """RQ's own Queue on game_events, configured as django-rq's (whose enqueue_call() would wait
    for the test's transaction to commit)."""
    settings.GAME_EVENT_RETRY_DELAYS = [1, 2, 3]
    settings.GAME_EVENT_RESULT_TTL = 0
    monkeypatch.setattr(metrics, "_pending", Counter())  # the batch path counts; nobody flushes here
    timeout = settings.RQ_QUEUES[queue.QUEUE_NAME]["DEFAULT_TIMEOUT"]
    return Queue(queue.QUEUE_NAME, connection=redis_conn, default_timeout=timeout)


def job_arguments(job_id: str, at: datetime) -> dict:
    """What put() gives RQ's create_job, for RQ's own enqueue functions."""
    return {
        "job_id": job_id,
        "description": f"{job_id} at {at.isoformat(timespec='milliseconds')}",
        "retry": Retry(max=3, interval=[1, 2, 3]),
        "result_ttl": 0,
        "failure_ttl": None,
        "meta": {"due": at.timestamp()},
    }


# What put() leaves out of a job's hash on purpose (galactic.events.rq_compat.lean_job_fields): the fields RQ
# writes empty (its readers take a missing field for an empty one), the description, and the retry
# delays written without spaces: less Redis memory per scheduled event. RQ writes them back when it
# saves the whole job (a retry, say).
EMPTY_FIELDS = {
    "success_callback_name", "failure_callback_name", "stopped_callback_name",
    "started_at", "ended_at", "last_heartbeat", "worker_name", "group_id",
}  # fmt: skip


def lean(job_id: str, fields: set[str]) -> set[str]:
    return {f"rq:job:{job_id} {name}" for name in fields}


def test_put_of_a_later_job_writes_what_enqueue_at_writes(game_queue, redis_conn):
    at = datetime.now(UTC) + timedelta(minutes=5)
    ours, theirs = both_ways(
        redis_conn,
        lambda: game_queue.enqueue_at(at, "tests.jobs.record", "a", **job_arguments("job-a", at)),
        lambda: queue.put("tests.jobs.record", job_id="job-a", at=at, args=("a",)),
    )
    # ours: a lean hash (no enqueue time either, as RQ: it is written when the job is promoted)
    assert differences(ours, theirs) == lean("job-a", EMPTY_FIELDS | {"description", "retry_intervals"})
    assert theirs["rq:job:job-a"][2]["status"] == "scheduled"

    job = Job.fetch("job-a", connection=redis_conn)
    assert (job.get_status(), job.args, job.retries_left) == ("scheduled", ("a",), 3)
    assert job.meta["due"] == at.timestamp()
    registry = ScheduledJobRegistry(queue=game_queue)
    assert registry.get_job_ids() == ["job-a"]
    assert abs(registry.get_scheduled_time("job-a") - at) < timedelta(milliseconds=1)  # RQ: to the second


def test_put_of_a_due_job_writes_what_enqueue_writes(game_queue, redis_conn):
    at = datetime.now(UTC) - timedelta(seconds=1)
    ours, theirs = both_ways(
        redis_conn,
        lambda: game_queue.enqueue_call("tests.jobs.record", args=("a",), **job_arguments("job-a", at)),
        lambda: queue.put("tests.jobs.record", job_id="job-a", at=at, args=("a",)),
    )
    assert differences(ours, theirs) == lean("job-a", EMPTY_FIELDS | {"description", "retry_intervals"})
    assert Job.fetch("job-a", connection=redis_conn).get_status() == "queued"
    assert game_queue.job_ids == ["job-a"]


def test_promotion_writes_what_rq_schedulers_promotion_writes(game_queue, redis_conn):
    at = datetime.now(UTC) - timedelta(seconds=1)

    def scheduled_then(promote) -> None:
        game_queue.enqueue_at(at, "tests.jobs.record", "a", **job_arguments("job-a", at))
        promote()

    def rq_promotes() -> None:
        scheduler = RQScheduler([game_queue], connection=redis_conn)
        scheduler.acquire_locks()  # RQ's scheduler promotes only the queues it holds the lock of
        scheduler.enqueue_scheduled_jobs()
        scheduler.release_locks()

    ours, theirs = both_ways(
        redis_conn, lambda: scheduled_then(rq_promotes), lambda: scheduled_then(queue.promote_due)
    )
    assert differences(ours, theirs) == set()
    assert Job.fetch("job-a", connection=redis_conn).get_status() == "queued"
    assert game_queue.job_ids == ["job-a"] and ScheduledJobRegistry(queue=game_queue).count == 0


def rq_starts(game_queue: Queue, redis_conn: Redis) -> SimpleWorker:
    """A job dequeued and started the way RQ's worker does it (before it runs the function)."""
    worker = SimpleWorker([game_queue], connection=redis_conn, name=WORKER)
    worker.register_birth()
    job, _ = Queue.dequeue_any([game_queue], None, connection=redis_conn)
    worker.prepare_execution(job)
    worker.prepare_job_execution(job, remove_from_intermediate_queue=True)
    return worker


def test_claim_starts_a_job_as_rqs_worker_does(game_queue, redis_conn):
    at = datetime.now(UTC) - timedelta(seconds=1)

    def put() -> None:
        queue.put("tests.jobs.tally", job_id="tally-a", at=at, args=("a",))

    def claim() -> None:
        worker = SimpleWorker([game_queue], connection=redis_conn, name=WORKER)
        worker.register_birth()
        ttl = worker.get_heartbeat_ttl(Job.fetch("tally-a", connection=redis_conn))
        assert len(queue.claim_more(game_queue, "tally-", 5, worker_name=WORKER, ttl=ttl)) == 1

    ours, theirs = both_ways(
        redis_conn,
        lambda: (put(), rq_starts(game_queue, redis_conn)),
        lambda: (put(), claim()),
        without=(f"rq:worker:{WORKER}",),  # the claimed jobs are not the worker's current job
    )
    assert differences(ours, theirs) == set()

    (job_id, execution_id), *_ = StartedJobRegistry(queue=game_queue).get_job_and_execution_ids()
    assert job_id == "tally-a"
    execution = Execution.fetch(execution_id, job_id, connection=redis_conn)
    assert execution.worker_name == WORKER
    assert ExecutionRegistry(job_id, connection=redis_conn).get_execution_ids() == [execution_id]
    job = Job.fetch("tally-a", connection=redis_conn)
    assert (job.get_status(), job.worker_name) == ("started", WORKER)
    assert job.started_at is not None and abs(job.started_at - execution.created_at) < timedelta(seconds=1)


def test_a_workers_first_redis_call_is_still_set_ip_address(redis_conn):
    """GameWorker waits for an absent Redis by overriding RQ's private _set_ip_address, the first
    Redis call of Worker.__init__: it must still be called there, with the connection."""
    seen = []

    class Watching(SimpleWorker):
        def _set_ip_address(self, connection) -> None:
            seen.append(connection)
            super()._set_ip_address(connection)

    Watching(["game_events"], connection=redis_conn, name=WORKER)
    assert seen == [redis_conn]


def test_take_starts_a_job_as_rqs_worker_does(game_queue, redis_conn):
    """GameWorker starts the job it dequeued with queue.take (one script, which also refuses a job
    crash recovery took back): the same picture as RQ's prepare_execution + prepare_job_execution."""
    at = datetime.now(UTC) - timedelta(seconds=1)

    def we_take() -> None:
        queue.put("tests.jobs.tally", job_id="tally-a", at=at, args=("a",))
        worker = SimpleWorker([game_queue], connection=redis_conn, name=WORKER)
        worker.register_birth()
        job, _ = Queue.dequeue_any([game_queue], None, connection=redis_conn)
        ttl = worker.get_heartbeat_ttl(job)
        taken = queue.take(
            game_queue, job, worker_name=WORKER, worker_key=worker.key, ttl=ttl, via_intermediate=True
        )
        assert taken is not None and not taken.crashed_before and not taken.has_dependents

    ours, theirs = both_ways(
        redis_conn,
        lambda: (
            queue.put("tests.jobs.tally", job_id="tally-a", at=at, args=("a",)),
            rq_starts(game_queue, redis_conn),
        ),
        we_take,
    )
    assert differences(ours, theirs) == set()
    assert game_queue.intermediate_queue.get_job_ids() == []
    job = Job.fetch("tally-a", connection=redis_conn)
    assert (job.get_status(), job.worker_name) == ("started", WORKER)


def test_take_refuses_a_job_crash_recovery_handed_back(game_queue, redis_conn):
    at = datetime.now(UTC) - timedelta(seconds=1)
    queue.put("tests.jobs.tally", job_id="tally-a", at=at, args=("a",))
    worker = SimpleWorker([game_queue], connection=redis_conn, name=WORKER)
    worker.register_birth()
    job, _ = Queue.dequeue_any([game_queue], None, connection=redis_conn)
    redis_conn.lrem(game_queue.intermediate_queue_key, 1, job.id)  # as _REQUEUE_STRANDED_SCRIPT does
    taken = queue.take(
        game_queue, job, worker_name=WORKER, worker_key=worker.key, ttl=60, via_intermediate=True
    )
    assert taken is None
    assert StartedJobRegistry(queue=game_queue).get_job_ids() == []


def test_an_id_that_reached_the_queue_twice_runs_once(game_queue, redis_conn):
    """Alone or in a batch, the second copy of an id is dropped: its job is started (or done)."""
    at = datetime.now(UTC) - timedelta(seconds=1)
    queue.put_many([queue.PendingEvent("tests.jobs.tally", f"tally-{n}", at, (n,)) for n in "ab"])
    redis_conn.rpush(game_queue.key, "tally-a", "tally-b", "tally-a")  # as a requeue that raced
    for _ in range(3):
        if redis_conn.llen(game_queue.key):
            run_next(GameWorker, game_queue)
    assert [len(redis_conn.lrange(f"test:runs:{n}", 0, -1)) for n in "ab"] == [1, 1]
    assert redis_conn.llen(game_queue.key) == 0
    assert StartedJobRegistry(queue=game_queue).get_job_ids() == []


def test_a_quarantined_job_whose_id_is_still_queued_does_not_run(game_queue, redis_conn):
    """Crash recovery may quarantine a job (status failed, in the failed registry) whose id an
    earlier hand-back left in the queue: neither a worker's start nor a batch's claim runs it."""
    at = datetime.now(UTC) - timedelta(seconds=1)
    queue.put_many([queue.PendingEvent("tests.jobs.tally", f"tally-{n}", at, (n,)) for n in "bac"])
    for name in ("tally-b", "tally-c"):  # quarantined meanwhile
        redis_conn.hset(Job.key_for(name), "status", rq_compat.FAILED)
    for n in range(2):  # b, dequeued alone; then a, which would claim c for its batch
        worker = GameWorker([game_queue], connection=redis_conn, name=f"{WORKER}-{n}")
        worker.register_birth()
        job, _ = Queue.dequeue_any([game_queue], None, connection=redis_conn)
        worker.execute_job(job, game_queue)
    assert [len(redis_conn.lrange(f"test:runs:{n}", 0, -1)) for n in "abc"] == [1, 0, 0]
    assert redis_conn.llen(game_queue.key) == 0
    assert StartedJobRegistry(queue=game_queue).get_job_ids() == []


@pytest.mark.parametrize(
    "result_ttl", [0, 600, -1], ids=["results not kept", "results kept", "kept for good"]
)
def test_a_batch_ends_as_rqs_worker_ends_each_job(game_queue, redis_conn, settings, result_ttl):
    settings.GAME_EVENT_RESULT_TTL = result_ttl
    names = ["a", "b", "c"]
    at = datetime.now(UTC) - timedelta(seconds=1)

    def put() -> None:
        queue.put_many([queue.PendingEvent("tests.jobs.tally", f"tally-{n}", at, (n,)) for n in names])

    def rq_runs_each() -> None:
        worker = SimpleWorker([game_queue], connection=redis_conn, name=WORKER)
        worker.register_birth()
        for _ in names:
            job, _ = Queue.dequeue_any([game_queue], None, connection=redis_conn)
            worker.execute_job(job, game_queue)

    def we_run_a_batch() -> None:
        worker = GameWorker([game_queue], connection=redis_conn, name=WORKER)
        worker.register_birth()
        first, _ = Queue.dequeue_any([game_queue], None, connection=redis_conn)
        worker.execute_job(first, game_queue)  # takes the two others: claim, start, run_many, finish

    ours, theirs = both_ways(
        redis_conn,
        lambda: (put(), rq_runs_each()),
        lambda: (put(), we_run_a_batch()),
        without=("test:",),  # what the jobs themselves record
    )
    assert [int(n) for n in redis_conn.lrange("test:batch-sizes", 0, -1)] == [3]  # one batch indeed
    # ours: the mark of a worker that keeps a liveness key
    assert differences(ours, theirs) == {f"rq:worker:{WORKER} liveness"}
    assert theirs[f"rq:worker:{WORKER}"][2]["successful_job_count"] == "3"

    assert StartedJobRegistry(queue=game_queue).get_job_ids() == []
    for name in names:
        assert ExecutionRegistry(f"tally-{name}", connection=redis_conn).get_execution_ids() == []
    finished = FinishedJobRegistry(queue=game_queue).get_job_ids()
    if result_ttl:
        assert sorted(finished) == [f"tally-{n}" for n in names]
        job = Job.fetch("tally-b", connection=redis_conn)
        assert (job.get_status(), job.return_value()) == ("finished", "b")
    else:
        assert finished == [] and not redis_conn.exists(*(Job.key_for(f"tally-{n}") for n in names))


def run_next(worker_class: type[SimpleWorker], game_queue: Queue) -> None:
    """The next job of the queue, dequeued and run by a new worker of `worker_class`."""
    worker = worker_class([game_queue], connection=game_queue.connection, name=WORKER)
    worker.register_birth()
    job, _ = Queue.dequeue_any([game_queue], None, connection=game_queue.connection)
    worker.execute_job(job, game_queue)


@pytest.mark.parametrize(
    "result_ttl", [0, 600, -1], ids=["results not kept", "results kept", "kept for good"]
)
def test_a_job_alone_ends_as_rqs_worker_ends_it(game_queue, redis_conn, settings, result_ttl):
    """A job no batch takes runs through GameWorker._perform_alone: take, the function, and one
    script for its end, where RQ's worker makes a dozen round trips."""
    settings.GAME_EVENT_RESULT_TTL = result_ttl
    at = datetime.now(UTC) - timedelta(seconds=1)

    def put() -> None:
        queue.put("tests.jobs.record", job_id="alone", at=at, args=("alone",))

    ours, theirs = both_ways(
        redis_conn,
        lambda: (put(), run_next(SimpleWorker, game_queue)),
        lambda: (put(), run_next(GameWorker, game_queue)),
        without=("test:",),
    )
    assert len(redis_conn.lrange("test:runs:alone", 0, -1)) == 1
    assert differences(ours, theirs) == {f"rq:worker:{WORKER} liveness"}
    assert theirs[f"rq:worker:{WORKER}"][2]["successful_job_count"] == "1"
    assert theirs[f"rq:worker:{WORKER}"][2]["state"] == "idle"


@pytest.mark.parametrize("retries_left", [True, False], ids=["retried", "failed for good"])
def test_a_job_alone_that_fails_ends_as_rqs_worker_ends_it(game_queue, redis_conn, retries_left):
    at = datetime.now(UTC) - timedelta(seconds=1)

    def put() -> None:
        queue.put("tests.jobs.fail_until", job_id="failing", at=at, args=("failing", 99))
        if not retries_left:
            redis_conn.hset(Job.key_for("failing"), "retries_left", 0)

    ours, theirs = both_ways(
        redis_conn,
        lambda: (put(), run_next(SimpleWorker, game_queue)),
        lambda: (put(), run_next(GameWorker, game_queue)),
        without=("test:", "gc:attempts:"),  # ours: the attempt budget's counter
    )
    # ours: the liveness mark; the worker's state, idle in RQ's picture (SimpleWorker sets it after
    # every job) and set by the GameWorker's next dequeue, as after RQ's own perform_job
    expected = {f"rq:worker:{WORKER} liveness", f"rq:worker:{WORKER} state"}
    if not retries_left:  # the failure's result: the traceback names our frames, not RQ's
        expected.add("rq:results:failing")
        kind, ttl, (mine,) = ours["rq:results:failing"]
        _, rq_ttl, (rq,) = theirs["rq:results:failing"]
        assert (kind, ttl, mine.keys()) == ("stream", rq_ttl, rq.keys())
        assert {k: v for k, v in mine.items() if k != "exc_string"} == {
            k: v for k, v in rq.items() if k != "exc_string"
        }
        for stored in (mine["exc_string"], rq["exc_string"]):  # RQ stores it compressed
            traceback = zlib.decompress(base64.b64decode(stored)).decode()
            assert traceback.endswith("RuntimeError: planned failure 1 of failing\n")
    assert differences(ours, theirs) == expected
    status = Job.fetch("failing", connection=redis_conn).get_status()
    assert status == ("scheduled" if retries_left else "failed")


def test_requeue_of_an_abandoned_job_writes_what_rqs_cleanup_writes(game_queue, redis_conn, settings):
    # RQ's registry cleanup hands an abandoned job back through its retries: with no delay it goes
    # straight back to the queue, which is what recover_abandoned does at once
    settings.GAME_EVENT_RETRY_DELAYS = [0, 0, 0]
    at = datetime.now(UTC) - timedelta(seconds=1)

    def started_then_dead() -> None:
        queue.put("tests.jobs.record", job_id="job-a", at=at, args=("a",))
        worker = rq_starts(game_queue, redis_conn)
        redis_conn.delete(worker.key)  # its key expired: the worker is dead

    def rq_cleans_up() -> None:
        StartedJobRegistry(queue=game_queue).cleanup(timestamp=time.time() + 3600)

    ours, theirs = both_ways(
        redis_conn,
        lambda: (started_then_dead(), rq_cleans_up()),
        lambda: (started_then_dead(), queue.recover_abandoned()),
    )
    # RQ counts the lost run as a failed try; we count it as a crash in the job's attempt counters
    # (the worker died, the job did not fail), and we clear the dead worker's name from the job;
    # RQ saves the whole job, so the fields put() leaves out are back on its side
    expected = {"rq:job:job-a retries_left", "rq:job:job-a worker_name", "gc:attempts:job-a"}
    assert differences(ours, theirs) == expected | lean(
        "job-a", EMPTY_FIELDS - {"started_at", "last_heartbeat", "worker_name"} | {"retry_intervals"}
    )
    job = Job.fetch("job-a", connection=redis_conn)
    assert (job.get_status(), job.worker_name, job.retries_left) == ("queued", None, 3)
    assert game_queue.job_ids == ["job-a"] and StartedJobRegistry(queue=game_queue).get_job_ids() == []


def test_an_abandoned_job_between_dequeue_and_start_goes_back_to_the_queue(game_queue, redis_conn):
    at = datetime.now(UTC) - timedelta(seconds=1)
    queue.put("tests.jobs.record", job_id="job-a", at=at, args=("a",))
    Queue.dequeue_any([game_queue], None, connection=redis_conn)  # and the worker dies here
    assert game_queue.intermediate_queue.get_job_ids() == ["job-a"]  # where we look for it
    assert queue.recover_abandoned() == 0  # the first sighting starts the clock
    redis_conn.expire("gc:stranded:job-a", queue.INTERMEDIATE_GRACE)  # as if first seen long ago
    assert queue.recover_abandoned() == 1
    assert game_queue.intermediate_queue.get_job_ids() == [] and game_queue.job_ids == ["job-a"]
    assert Job.fetch("job-a", connection=redis_conn).get_status() == "queued"


def test_django_rqs_pages_read_what_our_scripts_wrote(game_queue, redis_conn, admin_client, settings):
    client = admin_client
    index = list(settings.RQ_QUEUES).index(queue.QUEUE_NAME)
    due, later = datetime.now(UTC) - timedelta(seconds=1), datetime.now(UTC) + timedelta(minutes=5)
    queue.put("tests.jobs.record", job_id="job-later", at=later, args=("later",))
    queue.put_many([queue.PendingEvent("tests.jobs.tally", f"tally-{n}", due, (n,)) for n in "ab"])
    GameWorker([game_queue], connection=redis_conn, name=WORKER).register_birth()
    claimed = queue.claim_more(game_queue, "tally-", 5, worker_name=WORKER, ttl=60)

    def page(name: str, *args: object) -> str:
        response = client.get(reverse(f"django_rq:{name}", args=[index, *args]))
        assert response.status_code == 200, name
        return response.content.decode()

    started = page("started_jobs")
    assert all(c.execution_id in started for c in claimed) and "tests.jobs.tally" in started
    assert "job-later" in page("scheduled_jobs")
    assert '<span class="rq-pill rq-state-started">started</span>' in page("job_detail", "tally-a")
    assert WORKER in page("workers")


def test_a_batch_leaves_jobs_with_dependents_or_callbacks_to_rqs_own_path(game_queue, redis_conn):
    at = datetime.now(UTC) - timedelta(seconds=1)
    queue.put_many([queue.PendingEvent("tests.jobs.tally", f"tally-{n}", at, (n,)) for n in "abc"])
    game_queue.enqueue("tests.jobs.record", "after-b", job_id="after-b", depends_on="tally-b")
    redis_conn.hset(Job.key_for("tally-c"), "success_callback_name", "tests.jobs.on_success")
    worker = GameWorker([game_queue], connection=redis_conn, name=WORKER)
    worker.register_birth()
    first, _ = Queue.dequeue_any([game_queue], None, connection=redis_conn)
    worker.execute_job(first, game_queue)

    # a alone in the batch; b and c each through RQ's code, which enqueues b's dependent and
    # calls c's callback (the batch does neither)
    assert [int(n) for n in redis_conn.lrange("test:batch-sizes", 0, -1)] == [1, 1, 1]
    assert Job.fetch("after-b", connection=redis_conn).get_status() == "queued"
    assert redis_conn.lrange("test:callbacks:tally-c", 0, -1) == [b"'c'"]
    assert StartedJobRegistry(queue=game_queue).get_job_ids() == []


@pytest.mark.parametrize(
    ("change", "batched"),
    [
        ({}, True),
        ({"success_callback_name": "tests.jobs.on_success"}, False),
        ({"failure_callback_name": "tests.jobs.on_success"}, False),
        ({"stopped_callback_name": "tests.jobs.on_success"}, False),
        ({"repeats_left": "1", "repeat_intervals": "[0]"}, False),
    ],
)
def test_what_a_batch_refuses(game_queue, redis_conn, change, batched):
    queue.put("tests.jobs.tally", job_id="tally-a", at=datetime.now(UTC), args=("a",))
    if change:
        redis_conn.hset(Job.key_for("tally-a"), mapping=change)
    job = Job.fetch("tally-a", connection=redis_conn)
    assert rq_compat.may_batch(job, has_dependents=False) is batched
    assert rq_compat.may_batch(job, has_dependents=True) is False
