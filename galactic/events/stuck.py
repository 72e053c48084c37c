"""Stuck events: pending events overdue by more than STUCK_EVENT_SECONDS, and what operators do about them.

Like galactic.events.reconcile, this module knows no game: an event is a job path, a fixed job id, a due
time and primitive arguments, read from the database through settings.GAME_EVENT_SOURCES. Two
actions work on any event: run its job now, in this process (every handler is idempotent and locks
its rows), or write its job to Redis again. An app may add one action of its own to an event type
with `register_action` (fleets/admin.py adds "send the fleet home" to fleet arrivals).

Every action works only on an event that is still pending and still stuck, looked up again in the
database: a stale page, or a posted job id, can never make an event happen early.

Quarantined events (galactic.events.attempts: they spent their attempt budget) are listed apart,
with their last traceback and attempt history. The same three actions release them: process now
(released if the handler succeeds), requeue with a fresh budget, or the type's own action (send
the fleet home). A release works only on an event still quarantined, under a lock on its record, so
a second click, or two operators at once, find nothing left to do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from redis.exceptions import RedisError

from galactic.errors import GameError
from galactic.events import attempts, queue
from galactic.events.metrics import event_type
from galactic.events.models import EventAttempt, QuarantinedEvent
from galactic.events.queue import PendingEvent
from galactic.events.reconcile import pending_events

logger = logging.getLogger(__name__)

LIMIT = 500  # rows on the page, most overdue first; each costs a Redis round trip


@dataclass(frozen=True)
class EventAction:
    label: str
    # Called with the event's job arguments; returns what it did, raises a GameError to refuse.
    func: Callable[..., str | None]


_actions: dict[str, EventAction] = {}


def register_action(event_type: str, label: str, func: Callable[..., str | None]) -> None:
    """Offer `label` on stuck events of this type ("fleet-arrival"); `func(*job_args)` carries it out."""
    _actions[event_type] = EventAction(label, func)


@dataclass(frozen=True)
class StuckEvent:
    event: PendingEvent
    late: timedelta
    status: str  # RQ status of its job, "missing", or "unknown" when Redis does not answer

    @property
    def type(self) -> str:
        return event_type(self.event.job_id)

    @property
    def action(self) -> EventAction | None:
        return _actions.get(self.type)

    @property
    def late_text(self) -> str:
        return _duration(self.late)


@dataclass(frozen=True)
class Quarantined:
    record: QuarantinedEvent
    history: list[EventAttempt]
    status: str  # RQ status of its job (failed, as a rule), "missing", or "unknown"

    @property
    def type(self) -> str:
        return event_type(self.record.job_id)

    @property
    def action(self) -> EventAction | None:
        return _actions.get(self.type)


@dataclass(frozen=True)
class StuckList:
    events: list[StuckEvent]  # LIMIT at most, most overdue first
    total: int
    threshold: int  # seconds
    redis_error: str | None = None
    quarantined: list[Quarantined] = ()


def _threshold() -> int:
    # Never below 0: an event that is not yet due is not stuck, and acting on it would make it early.
    return max(0, settings.STUCK_EVENT_SECONDS)


def _cutoff(now: datetime) -> datetime:
    return now - timedelta(seconds=_threshold())


def stuck_events(now: datetime | None = None) -> StuckList:
    """Every pending event overdue by more than STUCK_EVENT_SECONDS, with the status of its job."""
    now = now or timezone.now()
    cutoff = _cutoff(now)
    records = list(QuarantinedEvent.objects.all()[:LIMIT])
    held = {record.job_id for record in records}
    overdue = [e for e in pending_events() if e.at < cutoff and e.job_id not in held]
    overdue.sort(key=lambda e: (e.at, e.job_id))
    shown = overdue[:LIMIT]
    error = None
    try:
        statuses = [queue.job_status(event.job_id) or "missing" for event in shown]
        held_statuses = [queue.job_status(record.job_id) or "missing" for record in records]
    except RedisError as exc:
        statuses, error = ["unknown"] * len(shown), f"Redis does not answer: {exc.__class__.__name__}"
        held_statuses = ["unknown"] * len(records)
    events = [StuckEvent(e, now - e.at, status) for e, status in zip(shown, statuses, strict=True)]
    history = attempts.history(held)
    quarantined = [
        Quarantined(record, history.get(record.job_id, []), status)
        for record, status in zip(records, held_statuses, strict=True)
    ]
    return StuckList(events, len(overdue), _threshold(), error, quarantined)


def find_stuck(job_id: str) -> PendingEvent | None:
    """The pending event with this job id, if it is stuck now. Scans the pending events as
    reconcile does: fine for an operator's click, not for a loop."""
    cutoff = _cutoff(timezone.now())
    for event in pending_events():
        if event.job_id == job_id:
            return event if event.at < cutoff else None
    return None


@dataclass(frozen=True)
class Outcome:
    level: int  # a django.contrib.messages level
    text: str


def act(action: str, job_id: str, *, by: str) -> Outcome:
    """Carry out `action` ("process", "requeue" or "extra": the type's own) on a stuck event, for
    the operator `by` (logged: these change the game outside its usual path)."""
    handlers = {"process": process_now, "requeue": requeue, "extra": run_extra}
    if action not in handlers:
        return Outcome(messages.ERROR, f"unknown action {action!r}")
    if QuarantinedEvent.objects.filter(job_id=job_id).exists():
        outcome = release(action, job_id, by=by)
        logger.warning("stuck events: %s on quarantined %s by %s: %s", action, job_id, by, outcome.text)
        return outcome
    event = find_stuck(job_id)
    if event is None:
        return Outcome(messages.INFO, f"{job_id}: not a stuck event (any more); nothing done")
    outcome = handlers[action](event)
    logger.warning("stuck events: %s on %s by %s: %s", action, job_id, by, outcome.text)
    return outcome


def process_now(event: PendingEvent) -> Outcome:
    """Run the event's job function here and now; its handler decides whether anything is left to do."""
    try:
        acted = import_string(event.func)(*event.args)
    except GameError as exc:
        return Outcome(messages.WARNING, f"{event.job_id}: refused: {exc.detail}")
    except Exception as exc:  # an operator page reports a failing handler instead of a 500
        logger.exception("stuck events: processing %s failed", event.job_id)
        return Outcome(messages.ERROR, f"{event.job_id}: the handler failed ({exc!r}); see the logs")
    if acted is False:
        return Outcome(messages.INFO, f"{event.job_id}: nothing to do: the handler found it already done")
    return Outcome(messages.SUCCESS, f"{event.job_id}: processed")


def requeue(event: PendingEvent) -> Outcome:
    """Write the event's job to Redis, due now, unless a live job with its id exists."""
    try:
        written = queue.put(event.func, job_id=event.job_id, at=timezone.now(), args=event.args)
        status = None if written else queue.job_status(event.job_id)
    except RedisError as exc:
        return Outcome(messages.ERROR, f"{event.job_id}: Redis does not answer ({exc.__class__.__name__})")
    if not written:
        return Outcome(messages.INFO, f"{event.job_id}: a live job exists ({status}); left alone")
    return Outcome(messages.SUCCESS, f"{event.job_id}: requeued, due now")


def run_extra(event: PendingEvent) -> Outcome:
    action = _actions.get(event_type(event.job_id))
    if action is None:
        return Outcome(messages.ERROR, f"{event.job_id}: no action for {event_type(event.job_id)} events")
    try:
        done = action.func(*event.args)
    except GameError as exc:
        return Outcome(messages.WARNING, f"{event.job_id}: {action.label}: refused: {exc.detail}")
    except Exception as exc:
        logger.exception("stuck events: %s on %s failed", action.label, event.job_id)
        return Outcome(messages.ERROR, f"{event.job_id}: {action.label} failed ({exc!r}); see the logs")
    return Outcome(messages.SUCCESS, f"{event.job_id}: {done or action.label + ': done'}")


def release(action: str, job_id: str, *, by: str) -> Outcome:
    """Release a quarantined event: "process" (run it here; released if it succeeds), "requeue"
    (a fresh budget, due now) or "extra" (the type's own action; released if it succeeds)."""
    with transaction.atomic():
        record = QuarantinedEvent.objects.select_for_update().filter(job_id=job_id).first()
        if record is None:
            return Outcome(messages.INFO, f"{job_id}: not quarantined (any more); nothing done")
        event = PendingEvent(record.func, job_id, record.due or timezone.now(), tuple(record.args))
        if action == "requeue":
            return _requeue_released(event, by)
        # lifted while the handler runs (game time skips quarantined events); back if it fails
        lifted = transaction.savepoint_create()
        record.delete()
        outcome = process_now(event) if action == "process" else run_extra(event)
        if outcome.level == messages.SUCCESS or outcome.level == messages.INFO:
            _released(job_id, f"{action} by {by}: {outcome.text}")
            _drop_failed_job(job_id)
            return Outcome(outcome.level, f"{outcome.text}; released from quarantine")
        transaction.savepoint_rollback(lifted)
        attempts.record(job_id, EventAttempt.Kind.FAILED, detail=f"{action} by {by}: {outcome.text}")
        return Outcome(outcome.level, f"{outcome.text}; still quarantined")


def _released(job_id: str, detail: str) -> None:
    """A fresh budget, and a line in the history (the earlier lines stay)."""
    attempts.forget(queue.get_connection(), job_id)
    attempts.record(job_id, EventAttempt.Kind.RELEASED, detail=detail)


def _requeue_released(event: PendingEvent, by: str) -> Outcome:
    try:
        _released(event.job_id, f"requeued with a fresh budget by {by}")
        written = queue.put(event.func, job_id=event.job_id, at=timezone.now(), args=event.args)
    except RedisError as exc:
        transaction.set_rollback(True)  # still quarantined: nothing was released
        return Outcome(messages.ERROR, f"{event.job_id}: Redis does not answer ({exc.__class__.__name__})")
    text = "requeued, due now, with a fresh budget" if written else "a live job exists; left alone"
    return Outcome(messages.SUCCESS, f"{event.job_id}: released from quarantine; {text}")


def _drop_failed_job(job_id: str) -> None:
    """The quarantined job in the failed registry is done with once the event is released."""
    try:
        failed = queue.get_queue().failed_job_registry
        if queue.job_status(job_id) == "failed":
            failed.remove(job_id, delete_job=True)
    except RedisError:
        pass  # it stays in the failed registry; reconciliation no longer cares


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "min"), (seconds, "s")]
    shown = [f"{value} {unit}" for value, unit in parts if value][:2]
    return " ".join(shown) or "0 s"
