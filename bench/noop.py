"""Plain job functions for the baselines: importable by stock `rq worker` and by GameWorker alike.

Nothing here knows Django or the game, so stock RQ runs them exactly as it would any user job.
"""

from __future__ import annotations

import time

from rq import get_current_job

LATENESS_KEY = "bench:lateness"


def noop() -> None:
    """Does nothing: what a worker costs per job, without the job."""
    return None


def record(due: float) -> None:
    """Notes when this job started (first thing it does) next to when it was due, for bench.lateness."""
    started = time.time()
    job = get_current_job()
    job.connection.rpush(LATENESS_KEY, f"{due!r} {started!r} {job.id}")
