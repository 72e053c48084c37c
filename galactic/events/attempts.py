"""The attempt budget of every game event, and the quarantine of those that spend it.

An event that can never succeed (a poison event) or that kills its worker each time (a crash loop)
must not run forever: RQ's retries end in the failed registry, but reconciliation writes a fresh job
over a failed one, and crash recovery hands a job back without limit. So every attempt is counted
under the event's fixed job id, outside the job hash that RQ and reconciliation replace:

- failures (the handler raised): GAME_EVENT_RETRY_DELAYS + 1 attempts, the first run and RQ's
  retries; the count goes on across reconciliation, so a rewritten job does not get a new budget;
- hand-backs after a crash (its worker died mid-job): GAME_EVENT_MAX_HANDBACKS (default 2, like
  BullMQ's maxStalledCount); the next crash quarantines it.

Failures that say nothing about the event (the database or Redis unreachable, a deadlock) are not
counted: an outage must not quarantine the events that happened to run during it.

The counters live in Redis (`gc:attempts:<job id>`, atomic with crash recovery's Lua), the history
of attempts and the quarantine in PostgreSQL (galactic.events.models), so a wiped Redis forgets
neither. A quarantined event stays in the failed registry with its traceback; reconciliation and
leave it alone; only an operator's release (galactic.events.stuck) runs it again. Should the
database be down at the moment of quarantine, the record is missed, reconciliation writes the job
again, and its next failure or crash quarantines it at once (the counters are still spent).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError
from redis import Redis
from redis.exceptions import RedisError

from galactic.events.models import EventAttempt, QuarantinedEvent

logger = logging.getLogger(__name__)
events_log = logging.getLogger("galactic.events")

COUNTER_TTL = 7 * 24 * 3600  # an event's counters outlive any retry schedule; ids are never reused


def counter_key(job_id: str) -> str:
    return f"gc:attempts:{job_id}"  # the Lua scripts of galactic.events.queue build the same name


def failure_budget() -> int:
    """Attempts that may fail before the event is quarantined: the first run and each retry."""
    return len(settings.GAME_EVENT_RETRY_DELAYS) + 1


def is_transient(error: BaseException) -> bool:
    """A failure of the infrastructure, not of the event: not counted against its budget."""
    return isinstance(error, OperationalError | InterfaceError | RedisError)


def count_failure(connection: Redis, job_id: str) -> int:
    """Count one failed attempt; returns how many failed so far (every run of the event's id)."""
    pipe = connection.pipeline(transaction=True)
    pipe.hincrby(counter_key(job_id), "failures", 1)
    pipe.expire(counter_key(job_id), COUNTER_TTL)
    return int(pipe.execute()[0])


def count_crash(connection: Redis, job_id: str) -> int:
    """Count one crash against an event that another job's run was applying (the crash recovery of
    galactic.events.queue counts a job's own crashes in Lua); returns its crashes so far."""
    pipe = connection.pipeline(transaction=True)
    pipe.hincrby(counter_key(job_id), "crashes", 1)
    pipe.expire(counter_key(job_id), COUNTER_TTL)
    return int(pipe.execute()[0])


def mark_quarantined(connection: Redis, job_id: str) -> None:
    """Say so next to the counters too (the admin and an operator reading Redis see it there)."""
    pipe = connection.pipeline(transaction=True)
    pipe.hset(counter_key(job_id), "quarantined", 1)
    pipe.expire(counter_key(job_id), COUNTER_TTL)
    pipe.execute()


def record(job_id: str, kind: str, *, worker: str = "", detail: str = "") -> None:
    """Add one line to the event's attempt history. A database that is down loses the line, never
    the caller's work: the history is for operators."""
    try:
        EventAttempt.objects.create(job_id=job_id, kind=kind, worker=worker[:200], detail=detail)
    except DatabaseError:
        logger.warning("attempt history of %s not written: the database does not answer", job_id)


def quarantine(
    job_id: str, *, func: str, args: Iterable, due: datetime | None, reason: str, error: str = ""
) -> None:
    """Record the quarantine (idempotent) and say so in one log line."""
    try:
        QuarantinedEvent.objects.update_or_create(
            job_id=job_id,
            defaults={"func": func, "args": list(args), "due": due, "reason": reason, "error": error},
        )
    except DatabaseError:
        logger.warning("quarantine of %s not written: the database does not answer", job_id)
    events_log.warning(
        "event id=%s outcome=quarantined reason=%r: not run again until an operator releases it "
        "(admin, stuck events)",
        job_id,
        reason,
    )


def failure_reason() -> str:
    return f"failed {failure_budget()} times"


def crash_reason() -> str:
    return f"its worker died {settings.GAME_EVENT_MAX_HANDBACKS + 1} times while running it"


def quarantined_ids(prefix: str = "") -> set[str]:
    """Job ids of the quarantined events (those starting with `prefix`)."""
    rows = QuarantinedEvent.objects.all()
    if prefix:
        rows = rows.filter(job_id__startswith=prefix)
    return set(rows.values_list("job_id", flat=True))


def quarantined_count() -> int:
    return QuarantinedEvent.objects.count()


def history(job_ids: Iterable[str]) -> dict[str, list[EventAttempt]]:
    found: dict[str, list[EventAttempt]] = {}
    for attempt in EventAttempt.objects.filter(job_id__in=list(job_ids)):
        found.setdefault(attempt.job_id, []).append(attempt)
    return found


def note_failure(
    connection: Redis, job_id: str, *, func: str, args: Iterable, due: datetime | None, error: str
) -> bool:
    """For work that runs outside RQ's retries (one probe mission of probe:update): count the
    failure, record it, quarantine the event once its budget is spent. True when quarantined."""
    try:
        failures = count_failure(connection, job_id)
    except RedisError:
        failures = 0  # not counted: Redis is not there to count it
    record(job_id, EventAttempt.Kind.FAILED, detail=error)
    if failures < failure_budget():
        return False
    with contextlib.suppress(RedisError):  # the database row below is what probe:update reads
        mark_quarantined(connection, job_id)
    quarantine(job_id, func=func, args=args, due=due, reason=failure_reason(), error=error)
    return True


def forget(connection: Redis, job_id: str) -> None:
    """A fresh budget: the counters and the quarantine go (the history stays)."""
    connection.delete(counter_key(job_id))
    QuarantinedEvent.objects.filter(job_id=job_id).delete()
