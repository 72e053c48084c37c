"""Jobs used by the queue tests: each records its run in Redis, so the test can count runs."""

from __future__ import annotations

import time

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
