"""The database is the source of truth: put back in Redis every pending event that is missing.

Each app lists its pending events (settings.GAME_EVENT_SOURCES); an event whose job is absent,
finished or failed in Redis is written again under its fixed id. A live job (queued, scheduled or
started) is left alone, so reconciling twice, or while workers run, never doubles anything. A
quarantined event (galactic.events.attempts) is left alone too: only an operator releases it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

from django.conf import settings
from django.utils.module_loading import import_string
from rq.job import Job

from galactic.events import attempts, queue
from galactic.events.queue import PendingEvent

logger = logging.getLogger(__name__)

BATCH = 1000


@dataclass
class ReconcileResult:
    pending: int = 0
    enqueued: int = 0
    quarantined: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"pending": self.pending, "enqueued": self.enqueued, "quarantined": self.quarantined}


def pending_events() -> Iterator[PendingEvent]:
    for path in settings.GAME_EVENT_SOURCES:
        yield from import_string(path)()


def _batches(events: Iterable[PendingEvent]) -> Iterator[list[PendingEvent]]:
    iterator = iter(events)
    while batch := list(islice(iterator, BATCH)):
        yield batch


def reconcile(progress: Callable[[ReconcileResult], None] | None = None) -> ReconcileResult:
    """Re-enqueue every pending event that Redis does not hold as a live job. Safe to run any time."""
    result = ReconcileResult()
    connection = queue.get_connection()
    quarantined = attempts.quarantined_ids()
    for batch in _batches(pending_events()):
        pipe = connection.pipeline(transaction=False)
        for event in batch:
            pipe.hget(Job.key_for(event.job_id), "status")
        statuses = pipe.execute()
        for event, status in zip(batch, statuses, strict=True):
            if event.job_id in quarantined:
                result.quarantined += 1
                continue
            if queue.is_live(status.decode() if status else None):
                continue
            if queue.put(event.func, job_id=event.job_id, at=event.at, args=event.args):
                result.enqueued += 1
        result.pending += len(batch)
        if progress:
            progress(result)
    if result.enqueued:
        logger.warning(
            "reconcile: %(enqueued)d of %(pending)d pending events were missing in Redis", result.as_dict()
        )
    return result
