"""Jobs used by the queue tests: each records its run in Redis, so the test can count runs."""

from __future__ import annotations

import os
import signal
import time
import zlib

from galactic.events import queue


def record(name: str) -> None:
    queue.get_connection().rpush(f"test:runs:{name}", repr(time.time()))


def fail_until(name: str, successes_after: int) -> None:
    """Fails the first `successes_after` runs, then succeeds."""
    runs = queue.get_connection().rpush(f"test:runs:{name}", repr(time.time()))
    if runs <= successes_after:
        raise RuntimeError(f"planned failure {runs} of {name}")


def runs(name: str) -> list[float]:
    return [float(x) for x in queue.get_connection().lrange(f"test:runs:{name}", 0, -1)]


def slow(name: str, seconds: float) -> None:
    """Records its start, then takes its time (long enough to be killed mid-job)."""
    record(name)
    time.sleep(seconds)
    queue.get_connection().rpush(f"test:runs:{name}:done", repr(time.time()))


TALLY_PREFIX = "tally-"


def tally(name: str) -> str:
    """A batchable job (like fleet:arrival): records its run in Redis; fails for names "bad*"."""
    return tally_many([name])[0]


def tally_many(names: list[str]) -> list[str]:
    """tally() for a batch, all or nothing as a transaction is: a "bad*" name fails the whole batch
    before anything is recorded. Waits `test:tally:pause` seconds first (to be killed mid-batch)."""
    connection = queue.get_connection()
    if any(name.startswith("bad") for name in names):
        raise RuntimeError(f"planned failure in a batch of {len(names)}")
    time.sleep(float(connection.get("test:tally:pause") or 0))
    pipe = connection.pipeline()
    for name in names:
        pipe.rpush(f"test:runs:{name}", repr(time.time()))
    pipe.rpush("test:batch-sizes", len(names))
    pipe.execute()
    return names


def batch_sizes() -> list[int]:
    return [int(x) for x in queue.get_connection().lrange("test:batch-sizes", 0, -1)]


queue.batchable(tally, id_prefix=TALLY_PREFIX, run_many=tally_many)


def on_success(job, connection, result, *args, **kwargs) -> None:
    """A success callback (RQ calls it with the job, the connection and the result)."""
    connection.rpush(f"test:callbacks:{job.id}", repr(result))


# --- the attempt budget and crash recovery ------------------------------------------------------------

RUNS_TABLE = "test_exclusive_runs"


def exclusive(name: str, seconds: float) -> None:
    """Records its run in PostgreSQL, holding a session advisory lock named after the job while it
    works: a second run of the same job that starts while the first still runs (or until its
    killed worker's session is gone) cannot take the lock, and says so in its row."""
    from django.db import connection

    key = zlib.crc32(name.encode())
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        alone = cursor.fetchone()[0]
        cursor.execute(
            f"INSERT INTO {RUNS_TABLE} (name, pid, started, alone) VALUES (%s, %s, clock_timestamp(), %s) "
            "RETURNING id",
            [name, os.getpid(), alone],
        )
        run_id = cursor.fetchone()[0]
    time.sleep(seconds)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {RUNS_TABLE} SET ended = clock_timestamp() WHERE id = %s", [run_id])
        if alone:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def always_fails(name: str) -> None:
    """A poison job: records its run, then fails, every time."""
    record(name)
    raise ValueError(f"{name} can never succeed")


def kill_my_worker(name: str) -> None:
    """A job that kills the worker running it (as an out-of-memory kill would), every time."""
    record(name)
    os.kill(os.getpid(), signal.SIGKILL)


def count_users(name: str) -> int:
    """A job that reads the database (its connection is what the test is about); records its run."""
    from django.contrib.auth import get_user_model

    count = get_user_model().objects.count()
    record(name)
    return count
