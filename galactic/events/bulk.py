"""Bulk requeue: write every job of a registry of given-up events (the failed registry) to the queue
again, due now, from the admin's find-an-event page.

A job is written again through queue.put(), so with a fresh set of retries, and only when no live job
with its id exists; the handlers are idempotent, so an event whose effect already happened changes
nothing. Other registries of given-up jobs join with `register_source`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from itertools import batched

from django.contrib import messages
from django.utils import timezone
from redis.exceptions import RedisError
from rq.job import Job

from galactic.events import queue
from galactic.events.queue import PendingEvent
from galactic.events.stuck import Outcome

logger = logging.getLogger(__name__)

BATCH = 500  # jobs read and written per round trip


@dataclass(frozen=True)
class Source:
    label: str  # "failed"
    job_ids: Callable[[], list[str]]  # the ids it holds now
    # takes the ids out of the source once they were written again (or had no job data left)
    forget: Callable[[list[str]], None]


def _failed_ids() -> list[str]:
    return queue.get_queue().failed_job_registry.get_job_ids()


def _forget_failed(job_ids: list[str]) -> None:
    # put() already took the rewritten ones out; this drops ids whose job hash was gone
    if job_ids:
        queue.get_connection().zrem(queue.get_queue().failed_job_registry.key, *job_ids)


_sources: dict[str, Source] = {"failed": Source("failed", _failed_ids, _forget_failed)}


def register_source(name: str, source: Source) -> None:
    """Offer "requeue all" for another registry of given-up jobs."""
    _sources[name] = source


def counts() -> dict[str, int]:
    """How many jobs each source holds now."""
    return {name: len(source.job_ids()) for name, source in _sources.items()}


def requeue_all(name: str, *, by: str) -> Outcome:
    """Write every job of source `name` to the queue again, due now (logged: an operator's act)."""
    source = _sources.get(name)
    if source is None:
        return Outcome(messages.ERROR, f"no registry {name!r} to requeue from")
    try:
        written, gone = _requeue(source)
    except RedisError as exc:
        return Outcome(messages.ERROR, f"Redis does not answer ({exc.__class__.__name__}); nothing more done")
    logger.warning("bulk requeue of %s events by %s: %d requeued, %d gone", name, by, written, gone)
    if not written and not gone:
        return Outcome(messages.INFO, f"no {source.label} events to requeue")
    tail = f"; {gone} had no job data left and were dropped" if gone else ""
    return Outcome(messages.SUCCESS, f"{written} {source.label} event(s) requeued, due now{tail}")


def _requeue(source: Source) -> tuple[int, int]:
    connection = queue.get_connection()
    written = gone = 0
    for ids in batched(source.job_ids(), BATCH):
        jobs = Job.fetch_many(list(ids), connection=connection)
        now = timezone.now()
        events = [PendingEvent(job.func_name, job.id, now, tuple(job.args)) for job in jobs if job]
        missing = [job_id for job_id, job in zip(ids, jobs, strict=True) if job is None]
        written += sum(queue.put_many(events))
        gone += len(missing)
        source.forget([event.job_id for event in events] + missing)
    return written, gone
