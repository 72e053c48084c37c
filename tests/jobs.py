"""Jobs used by the queue tests: each records its run in Redis, so the test can count runs."""

from __future__ import annotations

import time

from galactic import queue


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
