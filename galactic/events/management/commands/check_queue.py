"""`python manage.py check_queue`: six checks of the queue against the configured Redis and the
running workers, for an operator after a deployment or when events seem not to happen.

Each check prints one line with ✅ or ❌ and the milliseconds it took; the command exits 0 only when
all six pass. It writes only no-op jobs (galactic.events.jobs.ping) under ids starting with
`check-queue-`, and removes them, and the marks they leave, before it ends: the game's data is never
touched. A worker that runs the ping counts it in /metrics as a `check-queue-ping` event.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand, CommandParser
from redis.exceptions import RedisError
from rq.job import Job

from galactic.events import queue, rq_compat
from galactic.events.cli import redis_location, redis_problem
from galactic.events.jobs import CHECK_MARK

PING = "galactic.events.jobs.ping"
ID_PREFIX = "check-queue-ping-"
LATER = timedelta(hours=1)  # due time of the jobs that must stay scheduled while they are looked at
WORKER_DELAY = 0.2  # seconds: the worker check's job goes through the promoter, as game events do


class CheckFailed(Exception):
    pass


@dataclass(frozen=True)
class Result:
    name: str
    ok: bool
    ms: float
    detail: str

    def line(self) -> str:
        return f"{'✅' if self.ok else '❌'} {self.name} ({self.ms:.1f} ms): {self.detail}"


class QueueCheck:
    """The six checks, in order. Every job id it writes is remembered, so cleanup() removes them."""

    def __init__(self, worker_timeout: float) -> None:
        self.worker_timeout = worker_timeout
        self.connection = queue.get_connection()
        self.rq_queue = queue.get_queue()
        # digits only after the prefix, so that every ping is one event type in the metrics
        self.run = f"{os.getpid()}{time.time_ns() // 1_000_000 % 10**9}"
        self.job_ids: list[str] = []

    def checks(self) -> list[tuple[str, Callable[[], str]]]:
        return [
            ("Redis Connection", self.redis_connection),
            ("Queue Job Creation", self.job_creation),
            ("Delayed Job Scheduling", self.delayed_scheduling),
            ("Worker Processing", self.worker_processing),
            ("Custom Job ID (Idempotency)", self.idempotency),
            ("GameEvents Queue Access", self.queue_access),
        ]

    def new_id(self) -> str:
        job_id = f"{ID_PREFIX}{self.run}{len(self.job_ids) + 1}"
        self.job_ids.append(job_id)
        return job_id

    def put(self, at: datetime) -> str:
        job_id = self.new_id()
        if not queue.put(PING, job_id=job_id, at=at, args=(job_id,)):
            raise CheckFailed(f"{job_id} was not written: a live job with that id exists")
        return job_id

    def redis_connection(self) -> str:
        self.connection.ping()
        version = self.connection.info("server").get("redis_version", "?")
        return f"{redis_location()}, Redis {version}"

    def job_creation(self) -> str:
        job_id = self.put(datetime.now(UTC))
        status = queue.job_status(job_id)
        # a running worker may already have taken it, or run it (finished jobs are not kept)
        taken = status in (rq_compat.QUEUED, rq_compat.STARTED)
        if not taken and not self.connection.exists(CHECK_MARK.format(job_id)):
            raise CheckFailed(f"{job_id} was written but Redis shows it as {status or 'missing'}")
        return f"{job_id} written to {queue.QUEUE_NAME}, due now ({status or 'already run'})"

    def delayed_scheduling(self) -> str:
        due = datetime.now(UTC) + LATER
        job_id = self.put(due)
        score = self.connection.zscore(self.rq_queue.scheduled_job_registry.key, job_id)
        status = queue.job_status(job_id)
        if status != rq_compat.SCHEDULED or score is None:
            raise CheckFailed(f"{job_id} is {status or 'missing'}, not scheduled")
        if abs(score - due.timestamp()) > 0.001:
            raise CheckFailed(f"{job_id} is due at {score:.3f}, not {due.timestamp():.3f}")
        return f"{job_id} scheduled for {due.isoformat(timespec='milliseconds')} (to the millisecond)"

    def worker_processing(self) -> str:
        live = queue.live_workers(self.rq_queue)
        if not live:
            raise CheckFailed(
                f"no worker is running on {queue.QUEUE_NAME}: start one with "
                f"`manage.py rqworker {queue.QUEUE_NAME}`"
            )
        due = time.time() + WORKER_DELAY
        job_id = self.put(datetime.fromtimestamp(due, UTC))
        ran = self.wait_for_mark(job_id, deadline=due + self.worker_timeout)
        if ran is None:
            raise CheckFailed(
                f"{_workers(live)}, but none ran {job_id} within {self.worker_timeout:g} s of its "
                "due time: are they busy, or is their clock off?"
            )
        return f"{_workers(live)}; {job_id} ran {(ran - due) * 1000:.0f} ms after its due time"

    def wait_for_mark(self, job_id: str, deadline: float) -> float | None:
        while True:
            mark = self.connection.get(CHECK_MARK.format(job_id))
            if mark is not None:
                return float(mark)
            if time.time() > deadline:
                return None
            time.sleep(0.02)

    def idempotency(self) -> str:
        due = datetime.now(UTC) + LATER
        job_id = self.put(due)
        again = queue.put(PING, job_id=job_id, at=due + LATER, args=(job_id,))
        score = self.connection.zscore(self.rq_queue.scheduled_job_registry.key, job_id)
        if again:
            raise CheckFailed(f"a second job with id {job_id} was written over the first")
        if score is None or abs(score - due.timestamp()) > 0.001:
            raise CheckFailed(f"the second write of {job_id} moved the first one")
        return f"a second {job_id} was refused; the first keeps its due time"

    def queue_access(self) -> str:
        stats = queue.get_queue_stats()
        figures = ", ".join(f"{name} {count}" for name, count in stats.as_dict().items())
        return f"{queue.QUEUE_NAME}: {figures}, workers {stats.workers}"

    def cleanup(self) -> None:
        """Remove every job this run wrote, wherever it is now, and the marks of those that ran."""
        if not self.job_ids:
            return
        q = self.rq_queue
        registries = (q.scheduled_job_registry, q.failed_job_registry, q.finished_job_registry)
        pipe = self.connection.pipeline(transaction=False)
        for job_id in self.job_ids:
            pipe.lrem(q.key, 0, job_id)
            for registry in registries:
                pipe.zrem(registry.key, job_id)
            pipe.delete(Job.key_for(job_id), CHECK_MARK.format(job_id))
        pipe.execute()


class Command(BaseCommand):
    help = (
        "Check the game_events queue against the configured Redis and the running workers: six "
        "checks, one line each; exit status 0 only if all pass. Leaves nothing behind."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--worker-timeout",
            type=float,
            default=5.0,
            help="seconds to wait for a worker to run the check's job (default 5)",
        )

    def handle(self, *args: object, **options: object) -> None:
        check = QueueCheck(worker_timeout=options["worker_timeout"])
        try:
            results = self.run_checks(check)
        finally:
            with contextlib.suppress(RedisError):  # Redis went away: its failed check said so
                check.cleanup()
        failed = [result.name for result in results if not result.ok]
        if not failed:
            self.stdout.write(f"All {len(results)} checks passed!")
            return
        if len(results) > 1:
            passed = len(results) - len(failed)
            self.stdout.write(f"{passed} of {len(results)} checks passed; failed: {', '.join(failed)}")
        raise SystemExit(1)

    def run_checks(self, check: QueueCheck) -> list[Result]:
        results = []
        for name, func in check.checks():
            result = timed(name, func)
            if not result.ok and name == "Redis Connection":
                # nothing else can pass without Redis: one line, at once
                others = len(check.checks()) - 1
                detail = f"{result.detail} (the {others} other checks need it)"
                result = Result(name, False, result.ms, detail)
                self.stdout.write(result.line())
                return [result]
            self.stdout.write(result.line())
            results.append(result)
        return results


def timed(name: str, func: Callable[[], str]) -> Result:
    start = time.perf_counter()
    try:
        detail, ok = func(), True
    except CheckFailed as exc:
        detail, ok = str(exc), False
    except RedisError as exc:
        detail, ok = redis_problem(exc), False
    return Result(name, ok, (time.perf_counter() - start) * 1000, detail)


def _workers(count: int) -> str:
    return f"{count} live worker{'s' if count != 1 else ''}"
