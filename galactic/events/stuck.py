"""Stuck events: pending events overdue by more than STUCK_EVENT_SECONDS, and what operators do about them.

Like galactic.events.reconcile, this module knows no game: an event is a job path, a fixed job id, a due
time and primitive arguments, read from the database through settings.GAME_EVENT_SOURCES. Two
actions work on any event: run its job now, in this process (every handler is idempotent and locks
its rows), or write its job to Redis again. An app may add one action of its own to an event type
with `register_action` (fleets/admin.py adds "send the fleet home" to fleet arrivals).

Every action works only on an event that is still pending and still stuck, looked up again in the
database: a stale page, or a posted job id, can never make an event happen early.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib import messages
from django.utils import timezone
from django.utils.module_loading import import_string
from redis.exceptions import RedisError

from galactic.errors import GameError
from galactic.events import queue
from galactic.events.metrics import event_type
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
class StuckList:
    events: list[StuckEvent]  # LIMIT at most, most overdue first
    total: int
    threshold: int  # seconds
    redis_error: str | None = None


def _threshold() -> int:
    # Never below 0: an event that is not yet due is not stuck, and acting on it would make it early.
    return max(0, settings.STUCK_EVENT_SECONDS)


def _cutoff(now: datetime) -> datetime:
    return now - timedelta(seconds=_threshold())


def stuck_events(now: datetime | None = None) -> StuckList:
    """Every pending event overdue by more than STUCK_EVENT_SECONDS, with the status of its job."""
    now = now or timezone.now()
    cutoff = _cutoff(now)
    overdue = sorted((e for e in pending_events() if e.at < cutoff), key=lambda e: (e.at, e.job_id))
    shown = overdue[:LIMIT]
    error = None
    try:
        statuses = [queue.job_status(event.job_id) or "missing" for event in shown]
    except RedisError as exc:
        statuses, error = ["unknown"] * len(shown), f"Redis does not answer: {exc.__class__.__name__}"
    events = [StuckEvent(e, now - e.at, status) for e, status in zip(shown, statuses, strict=True)]
    return StuckList(events, len(overdue), _threshold(), error)


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


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "min"), (seconds, "s")]
    shown = [f"{value} {unit}" for value, unit in parts if value][:2]
    return " ".join(shown) or "0 s"
