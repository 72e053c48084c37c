"""rq-scheduler for the periodic game jobs: `python manage.py rqscheduler`.

Stock rq-scheduler has three traps for periodic jobs, each handled here:

- registering without a fixed id adds another copy at each boot: the jobs of
  settings.GAME_PERIODIC_JOBS are registered under fixed ids, and only when missing;
- the next run is computed from the moment the scheduler noticed the job, so the period drifts by
  up to the poll interval each time: here it is the previous due time plus the interval;
- it polls every 60 s by default: here every second (GAME_SCHEDULER_POLL).

Registration is checked on every pass, so after a Redis wipe the periodic jobs come back on their
own. Each run is a job of its own (`<id>-<due epoch>`) written through galactic.events.queue, so two
schedulers, or a pass that repeats, still give one run per period.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import uuid4

from django.conf import settings
from django_rq.queues import DjangoScheduler
from redis.exceptions import RedisError
from rq.job import Job

from galactic.events import queue, rq_compat

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodicJob:
    job_id: str
    func: str
    interval: int  # seconds


def periodic_jobs() -> list[PeriodicJob]:
    return [
        PeriodicJob(job_id, func, int(interval)) for job_id, func, interval in settings.GAME_PERIODIC_JOBS
    ]


class GameScheduler(DjangoScheduler):
    def register_periodic_jobs(self) -> None:
        """Register each periodic job under its fixed id, due now, unless it is registered already.

        ZADD NX: two schedulers starting at once cannot push a registration back to "now".
        """
        for periodic in periodic_jobs():
            registered = self.connection.zscore(self.scheduled_jobs_key, periodic.job_id)
            if registered is not None and self.connection.exists(Job.key_for(periodic.job_id)):
                self._refresh(periodic)
                continue
            logger.info("registering periodic job %s every %d s", periodic.job_id, periodic.interval)
            job = rq_compat.scheduler_job(
                self,
                periodic.func,
                id=periodic.job_id,
                description=f"{periodic.func} every {periodic.interval} s",
                queue_name=queue.QUEUE_NAME,
                result_ttl=-1,
            )
            job.meta["interval"] = periodic.interval
            job.save()
            self.connection.zadd(self.scheduled_jobs_key, {job.id: time.time()}, nx=True)

    def _refresh(self, periodic: PeriodicJob) -> None:
        """Bring a registration made by an older release up to date: its interval, and its job path
        (a path that moved keeps working through an import alias until this rewrites it)."""
        job = Job.fetch(periodic.job_id, connection=self.connection)
        if job.func_name != periodic.func:
            logger.info("periodic job %s now runs %s (was %s)", periodic.job_id, periodic.func, job.func_name)
            job.func_name = periodic.func
            job.save()
        if job.meta.get("interval") != periodic.interval:
            job.meta["interval"] = periodic.interval
            job.save_meta()

    _redis_down = False

    def enqueue_jobs(self):
        if self._redis_down:
            self._redis_down = False
            logger.warning("scheduler: Redis at %s answers again", queue.redis_location())
        self.register_periodic_jobs()
        jobs = super().enqueue_jobs()
        # The scheduler is often the one process left running when no game worker is: say so.
        queue.warn_if_stalled(self.connection)
        return jobs

    def run(self, burst: bool = False) -> None:
        """rq-scheduler's loop, but a Redis outage (restart, failover, a Redis that hangs: every
        call has a deadline, REDIS_WORKER_SOCKET_TIMEOUT) is waited out with one log line, not fatal."""
        queue.set_socket_timeout(self.connection, settings.REDIS_WORKER_SOCKET_TIMEOUT)
        while True:
            try:
                return super().run(burst=burst)
            except RedisError as error:
                if not self._redis_down:
                    logger.warning(
                        "scheduler: Redis at %s does not answer (%s); waiting for it",
                        queue.redis_location(),
                        error.__class__.__name__,
                    )
                self._redis_down = True
                time.sleep(1)
                self.name = uuid4().hex  # our old birth record may outlive the outage

    def enqueue_job(self, job: Job) -> None:
        """A periodic run becomes its own job `<id>-<due epoch>` on game_events; the registration
        moves on by whole intervals from its previous due time (skipping runs missed while no
        scheduler was up, rather than firing them all at once)."""
        interval = job.meta.get("interval")
        if not interval:
            return super().enqueue_job(job)
        due = self.connection.zscore(self.scheduled_jobs_key, job.id)
        if due is None:  # another scheduler moved it on since we read it
            return None
        queue.put(job.func_name, job_id=f"{job.id}-{int(due)}", at=datetime.fromtimestamp(due, UTC))
        now = time.time()
        next_due = due + interval
        if next_due <= now:
            next_due += interval * ((now - next_due) // interval + 1)
        self.connection.zadd(self.scheduled_jobs_key, {job.id: next_due})
        return None
