"""Find an event: the admin page that takes a job id, an object's id or a player's name and shows,
side by side, the database row, the Redis job that carries its event, and its report.

Like galactic.events.stuck, this module knows no game. Apps register lookups in their
AppConfig.ready() (`register_lookup`): a lookup takes what the operator typed and returns the rows
it names, each with the ids of the jobs that carry its events and its report. This module reads
those jobs from Redis (status, failed attempts, due time, lateness, last error) and offers the
stuck-events page's actions on any of them that is stuck.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Model
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from redis.exceptions import RedisError
from rq.job import Job
from rq.results import Result

from galactic.events import queue, rq_compat, stuck
from galactic.events.queue import PendingEvent
from galactic.events.reconcile import pending_events
from galactic.events.stuck import _duration as duration

JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,200}$")  # what queue.schedule accepts as an id
FAILED = (Result.Type.FAILED, Result.Type.MAX_RETRIES_EXCEEDED)


@dataclass(frozen=True)
class Found:
    """A database row a lookup found, and what the page shows beside it."""

    title: str  # "Fleet 12: attack, outbound"
    row: Model
    job_ids: tuple[str, ...] = ()  # the jobs that carry its events, pending or not
    report: Model | None = None
    report_data: dict | None = None  # the report as the API shows it

    @property
    def fields(self) -> list[tuple[str, str]]:
        """The row's columns as the database holds them (times in UTC, JSON as JSON)."""
        return [(f.attname, _shown(getattr(self.row, f.attname))) for f in self.row._meta.concrete_fields]

    @property
    def admin_url(self) -> str | None:
        return _admin_url(self.row)

    @property
    def report_url(self) -> str | None:
        return _admin_url(self.report) if self.report is not None else None

    @property
    def report_text(self) -> str:
        return json.dumps(self.report_data, indent=2, sort_keys=True) if self.report_data else ""


Lookup = Callable[[str], Iterable[Found]]
_lookups: dict[str, Lookup] = {}


def register_lookup(name: str, lookup: Lookup) -> None:
    """Let the page find rows of an app: `lookup(query)` yields what `query` names (an id, a job
    id, a player's name), or nothing. Called once per app, from its AppConfig.ready()."""
    _lookups[name] = lookup


@dataclass(frozen=True)
class JobView:
    job_id: str
    status: str  # RQ's status, "missing", or "unknown" when Redis does not answer
    func: str | None = None
    due: datetime | None = None
    started: datetime | None = None
    failures: int = 0
    retries_left: int | None = None
    last_error: str | None = None
    pending: PendingEvent | None = None  # the database says this event must still happen
    stuck: stuck.StuckEvent | None = None  # pending and stuck: the stuck-events actions apply

    @property
    def late_text(self) -> str | None:
        """How late it started; before it starts, how overdue it is (nothing while not yet due)."""
        due = self.due or (self.pending.at if self.pending else None)
        if due is None:
            return None
        if self.started is not None:
            return f"started {duration(self.started - due)} after its due time"
        if self.status in ("missing", "failed", "finished") and self.pending is None:
            return None
        late = timezone.now() - due
        return f"overdue by {duration(late)}" if late > timedelta(0) else "not due yet"


@dataclass(frozen=True)
class FindResult:
    query: str
    found: list[Found] = field(default_factory=list)
    jobs: list[JobView] = field(default_factory=list)  # of every row found, then the query's own
    redis_error: str | None = None

    @property
    def sections(self) -> list[tuple[Found, list[JobView]]]:
        """Each row found, with its jobs."""
        by_id = {job.job_id: job for job in self.jobs}
        return [(item, [by_id[i] for i in item.job_ids if i in by_id]) for item in self.found]

    @property
    def loose_jobs(self) -> list[JobView]:
        """Jobs no row claims: the query itself, as a job id."""
        claimed = {job_id for item in self.found for job_id in item.job_ids}
        return [job for job in self.jobs if job.job_id not in claimed]


def find(query: str) -> FindResult:
    """Everything the registered lookups find for `query`, and the jobs of what they found (or the
    job `query` names, when it is a job id no row claims)."""
    query = query.strip()
    if not query:
        return FindResult(query)
    found = [item for lookup in _lookups.values() for item in lookup(query)]
    job_ids = list(dict.fromkeys(job_id for item in found for job_id in item.job_ids))
    as_job_id = not found and JOB_ID.match(query) is not None
    if as_job_id:  # no row claims it: perhaps a job of its own (a periodic run, a failed job)
        job_ids.append(query)
    pending = _pending_of(set(job_ids))
    try:
        jobs = [job_view(job_id, pending.get(job_id)) for job_id in job_ids]
        error = None
    except RedisError as exc:
        jobs = [JobView(job_id, "unknown", pending=pending.get(job_id)) for job_id in job_ids]
        error = f"Redis does not answer: {exc.__class__.__name__}"
    if as_job_id and jobs[0].status == "missing" and jobs[0].pending is None:
        jobs = []  # a name or a job id that nothing knows
    return FindResult(query, found, jobs, error)


def _pending_of(job_ids: set[str]) -> dict[str, PendingEvent]:
    """The pending events with these ids (one scan of the pending events, as the stuck page does)."""
    if not job_ids:
        return {}
    return {event.job_id: event for event in pending_events() if event.job_id in job_ids}


def job_view(job_id: str, pending: PendingEvent | None) -> JobView:
    """The job with this id as Redis holds it now."""
    connection = queue.get_connection()
    job = Job.fetch(job_id, connection=connection) if connection.exists(Job.key_for(job_id)) else None
    is_stuck = _stuck(job_id, pending, job)
    if job is None:
        return JobView(job_id, "missing", pending=pending, stuck=is_stuck)
    status = job.get_status(refresh=False)
    status = str(getattr(status, "value", status) or "unknown")
    failure = next((result for result in job.results() if result.type in FAILED), None)  # newest first
    return JobView(
        job_id,
        status,
        func=job.func_name,
        due=_due(job, connection),
        started=job.started_at.replace(tzinfo=UTC) if job.started_at else None,
        failures=_failures(job, status),
        retries_left=job.retries_left,
        last_error=_last_line(failure.exc_string) if failure else None,
        pending=pending,
        stuck=is_stuck,
    )


def _stuck(job_id: str, pending: PendingEvent | None, job: Job | None) -> stuck.StuckEvent | None:
    if pending is None:
        return None
    late = timezone.now() - pending.at
    if late <= timedelta(seconds=max(0, settings.STUCK_EVENT_SECONDS)):
        return None
    status = (job.get_status(refresh=False) if job else None) or "missing"
    return stuck.StuckEvent(pending, late, status)


def _failures(job: Job, status: str) -> int:
    """Runs that failed: the retries it used (RQ keeps a result for the last failure only), and the
    final one if it is in the failed registry. Game events get one retry per GAME_EVENT_RETRY_DELAYS."""
    if job.retries_left is None:
        return int(status == "failed")
    return len(settings.GAME_EVENT_RETRY_DELAYS) - job.retries_left + int(status == "failed")


def _due(job: Job, connection) -> datetime | None:
    """The due time: put() keeps it in the job's meta; periodic registrations are in rq-scheduler's
    own set; anything else scheduled is in the queue's scheduled registry."""
    due = job.meta.get("due")
    if due is None:
        due = connection.zscore(rq_compat.SCHEDULER_REGISTRATIONS_KEY, job.id)
    if due is None:
        due = connection.zscore(queue.get_queue().scheduled_job_registry.key, job.id)
    return datetime.fromtimestamp(float(due), UTC) if due is not None else None


def _shown(value: object) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return "null" if value is None else str(value)


def _last_line(text: str | None) -> str | None:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else None


def _admin_url(obj: Model) -> str | None:
    meta = obj._meta
    try:
        return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    except NoReverseMatch:
        return None
