"""Periodic upkeep jobs of the queue itself, and the no-op job of `manage.py check_queue`."""

from __future__ import annotations

import time

from galactic.events import queue, reconcile

CHECK_MARK = "gc:check-queue:{}"  # set by ping(); check_queue reads it, then deletes it
CHECK_MARK_TTL = 60  # seconds: a mark nobody reads (the command was interrupted) goes by itself


def reconcile_events() -> dict[str, int]:
    """Periodic: hand back jobs of dead workers, and put back every pending event Redis lost."""
    recovered = queue.recover_abandoned()
    return {**reconcile.reconcile().as_dict(), "recovered": recovered}


def ping(job_id: str) -> None:
    """Touch nothing of the game: leave a short-lived mark, with the time it ran, that a worker
    ran this job (check_queue's worker check waits for it)."""
    queue.get_connection().set(CHECK_MARK.format(job_id), repr(time.time()), ex=CHECK_MARK_TTL)
