"""The worker that runs game events: `python manage.py rqworker game_events --with-scheduler`.

django-rq picks this class through settings.RQ["WORKER_CLASS"]. It runs each job in the worker
process itself instead of forking a work horse per job (RQ's fork costs more than a game event),
and keeps RQ's semantics: retries, the failed registry, heartbeats, warm shutdown on SIGTERM.

Three additions:

- Database hygiene: a job that shares the process with the next one must not hand it a broken or
  stale connection, so connections are checked before every job, as Django does per request.
- Crash recovery within seconds: a background thread keeps this worker's liveness key fresh and
  hands the jobs of dead workers back to the queue (galactic.queue.recover_abandoned). A
  SIGKILLed worker's job runs again on another worker LIVENESS_TTL to 2 x LIVENESS_TTL seconds
  later, instead of after RQ's worker TTL and 10-minute maintenance pass.
- A precise scheduler in place of RQ's (with --with-scheduler): RQ's polls once a second, keeps
  one worker as the scheduler under a lock (gone with that worker until a 10-minute maintenance
  pass), and fires up to 0.9 s early. Here every worker runs a promoter thread that sleeps until
  the next due time (woken sooner when an earlier job is scheduled) and moves due jobs to the
  queue with one Lua script, so several promoters never move a job twice.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections
from redis.exceptions import RedisError
from rq import worker_registration
from rq.job import Job
from rq.queue import Queue
from rq.worker import SimpleWorker

from galactic import metrics, queue

logger = logging.getLogger(__name__)
events_log = logging.getLogger("galactic.events")


class GameWorker(SimpleWorker):
    def serialize(self) -> dict:
        # Marks the worker as one that keeps a liveness key (recover_abandoned trusts only those).
        return {**super().serialize(), "liveness": "1"}

    def bootstrap(self, *args, **kwargs) -> None:
        super().bootstrap(*args, **kwargs)
        # RQ's own three INFO lines per job are noise next to our one line per event (and cost
        # time at thousands of events a second): RQ_LOG_LEVEL, unless started with -v 2 (DEBUG).
        if self.log.getEffectiveLevel() > logging.DEBUG:
            self.log.setLevel(settings.RQ_LOG_LEVEL)
        # alive before the first job can start, so no other worker mistakes it for a dead one
        self.connection.set(queue.liveness_key(self.name), 1, ex=queue.LIVENESS_TTL)
        self._stop_liveness = threading.Event()
        self._liveness = threading.Thread(target=self._keep_alive, name="liveness", daemon=True)
        self._liveness.start()

    def teardown(self) -> None:
        stop = getattr(self, "_stop_liveness", None)
        if stop is not None:
            stop.set()
            self.connection.delete(queue.liveness_key(self.name))
            metrics.flush(self.connection)
        super().teardown()

    def _start_scheduler(self, burst: bool = False, *args, **kwargs) -> None:
        if burst:  # promote what is due now, once, as RQ's burst mode does
            while queue.promote_due()[0] == queue.PROMOTE_BATCH:
                pass
            return
        self._promoter = threading.Thread(target=self._promote_forever, name="promoter", daemon=True)
        self._promoter.start()

    def _promote_forever(self) -> None:
        # Pooled, not a dedicated .client(): with Sentinel, redis-py's single-connection client
        # keeps reconnecting to the dead primary after a failover, while the pool follows it.
        connection = queue.get_connection()
        while not self._stop_liveness.is_set():
            try:
                promoted, next_due = queue.promote_due(connection)
                if promoted == queue.PROMOTE_BATCH:
                    continue
                wait = 1.0 if next_due is None else min(1.0, next_due - time.time())
                if wait > 0.05:  # block, but wake for a job that is due sooner than this one
                    connection.blpop([queue.WAKE_KEY], timeout=wait - 0.02)
                elif wait > 0:
                    time.sleep(wait)
            except RedisError as error:
                logger.warning("promoter: %s", error)
                self._stop_liveness.wait(0.5)

    def _keep_alive(self) -> None:
        connection = queue.get_connection()
        beat = queue.LIVENESS_TTL / 3
        while not self._stop_liveness.is_set():
            try:
                connection.set(queue.liveness_key(self.name), 1, ex=queue.LIVENESS_TTL)
                self._reregister_after_wipe(connection)
                queue.recover_abandoned()
                metrics.flush(connection)
            except RedisError as error:  # Redis down or restarting: keep trying, the worker loop copes
                logger.warning("liveness: %s", error)
            self._stop_liveness.wait(beat)

    def _reregister_after_wipe(self, connection) -> None:
        """After a Redis wipe RQ only re-creates a bare heartbeat hash: restore the worker's record
        (pid, queues, the liveness mark) and its place in the worker sets, as at birth."""
        if connection.hexists(self.key, "birth"):
            return
        with connection.pipeline() as pipe:
            pipe.hset(self.key, mapping=self.serialize())
            pipe.expire(self.key, self.worker_ttl + 60)
            worker_registration.register(self, pipe)
            pipe.execute()

    def perform_job(self, job: Job, queue: Queue) -> bool:
        close_old_connections()  # drops a connection that broke or aged in the previous job
        started = time.time()
        lateness = _lateness(job, started)  # before RQ counts down the retries of a failure
        ok = False
        try:
            ok = super().perform_job(job, queue)
            return ok
        finally:
            duration = time.time() - started
            metrics.record(job.id, ok=ok, lateness=lateness, duration=duration)
            events_log.info(
                "event id=%s type=%s lateness_ms=%s duration_ms=%.1f outcome=%s",
                job.id,
                metrics.event_type(job.id),
                "-" if lateness is None else f"{lateness * 1000:.1f}",
                duration * 1000,
                "ok" if ok else "failed",
            )


def _lateness(job: Job, started: float) -> float | None:
    """How late the job started against its due time; None for a retry, which is late by design."""
    due = job.meta.get("due")
    first_attempt = job.retries_left is None or job.retries_left >= len(job.retry_intervals or ())
    return started - due if due is not None and first_attempt else None
