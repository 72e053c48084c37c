"""The worker that runs game events: `python manage.py rqworker game_events` (or `rqworker-pool
game_events --num-workers N`; `--with-scheduler` is accepted and changes nothing).

django-rq picks this class through settings.RQ["WORKER_CLASS"]. It runs each job in the worker
process itself instead of forking a work horse per job (RQ's fork costs more than a game event),
and keeps RQ's semantics: retries, the failed registry, heartbeats, warm shutdown on SIGTERM.

Five additions:

- Database hygiene: a job that shares the process with the next one must not hand it a broken or
  stale connection, so connections are checked before every job, as Django does per request
  (but one that answered a job that ended less than DATABASE_TRUST ago: see below).
- Crash recovery within seconds: a background thread keeps this worker's liveness key fresh and
  hands the jobs of dead workers back to the queue (galactic.events.queue.recover_abandoned). A
  SIGKILLed worker's job runs again on another worker LIVENESS_TTL to 2 x LIVENESS_TTL seconds
  later, instead of after RQ's worker TTL and 10-minute maintenance pass.
- A precise scheduler in place of RQ's, whatever the flags: RQ's polls once a second, keeps one
  worker as the scheduler under a lock (gone with that worker until a 10-minute maintenance
  pass), and fires up to 0.9 s early, so it never runs here. Every worker started by work()
  (rqworker, rqworker-pool) runs a promoter thread from bootstrap() that sleeps until the next
  due time on its own clock (woken sooner when an earlier job is scheduled: galactic.events.
  queue.Wake) and moves due jobs to the queue with one Lua script, so several promoters never
  move a job twice. In burst mode it promotes what is due once, before the first job.
- Few round trips per job: RQ's worker makes about eighteen Redis round trips per job (heartbeats
  around every dequeue, a suspension check, two pipelines to start it, a transaction with a WATCH
  to end it). A GameWorker makes four for a job on its own: the dequeue (RQ's, two), the start
  (galactic.events.queue.take, one script that writes what RQ's two start pipelines write) and
  the end (galactic.events.queue.finish, one script, which also sets the worker idle again); its
  heartbeat and suspension check go at most once a second. A job with callbacks, dependents or
  repeats ends through RQ's own code. Its database connection is checked (Django's SELECT 1) only
  when the previous job ended more than a second ago: a job that finds it dead runs again at once
  on a new one.
- Batches: when the job it dequeued is of a kind that declares a batch function
  (galactic.events.queue.batchable, e.g. fleet:arrival) and more jobs of that kind wait near the head of
  the queue, it takes and starts up to GAME_EVENT_BATCH_SIZE - 1 of them with one Lua script
  (galactic.events.queue.claim_more) and runs them all through that function in one database
  transaction: three Redis round trips for the batch after RQ's dequeue of the first (take, start
  the first, finish) instead of about twenty per job. Each job still goes through RQ's states,
  registries and executions, so the dashboard, the stats and crash recovery see every one. If the
  batch fails, no job of it is marked done (game time may have applied the events of the instants
  before the failing one, for good: galactic.timeline), and its jobs run again one by one with
  RQ's own code: the one that fails gets its retries and lands in the failed registry alone.

And three guards, so that nothing wedges the queue:

- An attempt budget (galactic.events.attempts): a job that fails more than its retries, even across
  reconciliation's rewrites, or whose worker dies mid-job more than GAME_EVENT_MAX_HANDBACKS times,
  is quarantined. A job handed back after a crash runs alone, never in a batch, and one instant of
  game time at a time behind a breadcrumb (_perform_watched), so that a crash is counted against
  the event being applied, which may not be the job's own.
- One run at a time: the worker starts a job it dequeued only by taking it out of the
  intermediate list in one Lua script (galactic.events.queue.take); crash recovery hands back a
  stranded job by taking it out of the same list, so the two can never both run it.
- A Redis that is down or hung does not end the worker: every call has a deadline
  (REDIS_WORKER_SOCKET_TIMEOUT), the worker logs one line naming the Redis, waits, and goes on.
  Jobs it was running when Redis went away are handed back once Redis answers again (their
  handlers are idempotent).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import sys
import threading
import time
from datetime import UTC, datetime

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections
from redis.exceptions import AuthenticationError, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import worker_registration
from rq.executions import Execution
from rq.job import Job, Retry
from rq.queue import Queue
from rq.timeouts import JobTimeoutException
from rq.utils import now
from rq.worker import SimpleWorker, WorkerStatus

from galactic import db, timeline
from galactic.events import attempts, metrics, queue, rq_compat
from galactic.events.signals import worker_idle

logger = logging.getLogger(__name__)
events_log = logging.getLogger("galactic.events")

DEQUEUE_SLICE = 1  # seconds a worker waits for a job before it looks at a stop request again
HEARTBEAT_EVERY = 1  # seconds: RQ's heartbeats of the worker's hash and suspension checks, at most this often
DATABASE_TRUST = 1  # seconds: a connection that answered the last job this recently is not checked again


class RedisUnavailable(RedisError):
    """RQ's dequeue loop retries a lost connection by itself, logging a line every time; this one
    reaches GameWorker.dequeue_job_and_maintain_ttl, which waits with one line per outage."""


def _guarded(queue_class: type[Queue]) -> type[Queue]:
    class GuardedQueue(queue_class):
        @classmethod
        def dequeue_any(cls, *args, **kwargs):
            try:
                return super().dequeue_any(*args, **kwargs)
            except RedisConnectionError as error:
                raise RedisUnavailable(f"{error.__class__.__name__}: {error}") from error

    return GuardedQueue


class GameWorker(SimpleWorker):
    _burst = False

    # A worker waits for jobs 5 s at a time, so its Redis calls can have a deadline (RQ's default
    # wait is 405 s, and the deadline RQ gives the worker's client is the wait plus 10 s).
    @property
    def dequeue_timeout(self) -> int:
        return 5

    @property
    def connection_timeout(self) -> float:
        return max(settings.REDIS_WORKER_SOCKET_TIMEOUT, self.dequeue_timeout + 1)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.queue_class = _guarded(self.queue_class)
        self._redis_trouble = threading.Event()
        self._dropped_jobs = False  # Redis went away mid-job: hand the job back once it answers
        self._last_error: BaseException | None = None
        self._idle_written = False  # the last job's end set the worker idle in Redis (set_state)
        self._suspension_checked_at = -HEARTBEAT_EVERY  # time.monotonic() of the last check
        self._database_answered_at = -DATABASE_TRUST  # time.monotonic() when the last job ended well
        self._told_idle = False  # galactic.events.signals.worker_idle sent
        # Held while the liveness thread hands jobs back; the worker waits for it before starting a
        # job, so a job it just handed back (and may die running) has its crash recorded first.
        self._recovering = threading.Lock()

    def serialize(self) -> dict:
        # Marks the worker as one that keeps a liveness key (recover_abandoned trusts only those).
        return {**super().serialize(), "liveness": "1"}

    def bootstrap(self, *args, **kwargs) -> None:
        super().bootstrap(*args, **kwargs)
        # RQ's own three INFO lines per job are noise next to our one line per event (and cost
        # time at thousands of events a second): RQ_LOG_LEVEL, unless started with -v 2 (DEBUG).
        if self.log.getEffectiveLevel() > logging.DEBUG:
            self.log.setLevel(settings.RQ_LOG_LEVEL)
        # What is loaded by now (Django, the apps, their modules) lives as long as the process:
        # out of the garbage collector's full passes, which would otherwise walk all of it every
        # few thousand jobs (about 80 ms each; 8 ms once frozen).
        gc.collect()
        gc.freeze()
        # the promoter and liveness threads use the process's shared client: the same deadline
        queue.set_socket_timeout(queue.get_connection(), self.connection_timeout)
        # alive before the first job can start, so no other worker mistakes it for a dead one (with
        # Redis gone since RQ's bootstrap, the liveness thread sets it once Redis is back)
        try:
            self.connection.set(queue.liveness_key(self.name), 1, ex=queue.LIVENESS_TTL)
        except RedisError as error:
            self._redis_down(error)
        self._stop_liveness = threading.Event()
        self._liveness = threading.Thread(target=self._keep_alive, name="liveness", daemon=True)
        self._liveness.start()
        self._start_promoter()

    def teardown(self) -> None:
        stop = getattr(self, "_stop_liveness", None)
        if stop is not None:
            stop.set()
            try:
                self.connection.delete(queue.liveness_key(self.name))
                queue.unmark_promoter(self.connection, self.name)
                metrics.flush(self.connection)
            except RedisError as error:  # stopping while Redis is away: its key expires by itself
                self._redis_down(error)
        try:
            super().teardown()
        except RedisError as error:
            self._redis_down(error)

    # --- Redis away ----------------------------------------------------------------------------------

    def _redis_down(self, error: BaseException) -> None:
        """One line per outage (from whichever thread notices first), not one per failed call."""
        if not self._redis_trouble.is_set():
            self._redis_trouble.set()
            cause = error.__cause__ if isinstance(error, RedisUnavailable) and error.__cause__ else error
            logger.warning(
                "worker %s: Redis at %s does not answer (%s); waiting for it",
                self.name,
                queue.redis_location(),
                cause.__class__.__name__,
            )

    def _redis_up(self) -> None:
        if self._redis_trouble.is_set():
            self._redis_trouble.clear()
            logger.warning("worker %s: Redis at %s answers again", self.name, queue.redis_location())

    def dequeue_job_and_maintain_ttl(self, timeout: int | None, max_idle_time: int | None = None):
        while True:
            try:
                if self._dropped_jobs:
                    queue.recover_abandoned(dropped_by=self.name)
                    self._dropped_jobs = False
                result = self._dequeue_in_slices(timeout, max_idle_time)
            except RedisError as error:
                self._redis_down(error)
                if rq_compat.stop_requested(self):
                    return None
                self._stop_liveness.wait(1)
                continue
            self._redis_up()
            return result

    def heartbeat(self, timeout: int | None = None, pipeline=None) -> None:
        if pipeline is not None:
            return super().heartbeat(timeout, pipeline=pipeline)
        # RQ beats twice around every dequeue, two round trips a job: once a HEARTBEAT_EVERY is
        # enough (the worker's key lives worker_ttl + 60 s; liveness is the liveness thread's).
        recent = (
            self.last_heartbeat is not None
            and (now() - self.last_heartbeat).total_seconds() < HEARTBEAT_EVERY
        )
        if timeout is None and recent:
            return None
        try:
            super().heartbeat(timeout)
        except RedisError as error:
            self._redis_down(error)
        return None

    def set_state(self, state: str, pipeline=None) -> None:
        """RQ sets the worker idle before every dequeue: a round trip for nothing after a job that
        ended in the script which set it idle already (_finish_batch)."""
        written, self._idle_written = self._idle_written, False
        if pipeline is None and state == WorkerStatus.IDLE and written:
            return  # written, and the object knows it (_finish_batch)
        super().set_state(state, pipeline=pipeline)

    def check_for_suspension(self, burst: bool) -> None:
        """RQ asks Redis before every job whether `rq suspend` was run (a round trip a job): here
        once a HEARTBEAT_EVERY, so a suspension takes effect within that."""
        if time.monotonic() - self._suspension_checked_at < HEARTBEAT_EVERY:
            return
        try:
            super().check_for_suspension(burst)
            self._suspension_checked_at = time.monotonic()
        except RedisError as error:
            self._redis_down(error)

    def run_maintenance_tasks(self) -> None:
        try:
            super().run_maintenance_tasks()
        except RedisError as error:
            self._redis_down(error)

    def work(self, burst: bool = False, *args, with_scheduler: bool = False, **kwargs) -> bool:
        """RQ's work loop, with the promoter (started in bootstrap) in place of RQ's scheduler.

        `with_scheduler` is accepted, as `rqworker --with-scheduler` and `rqworker-pool` pass it, and
        ignored: RQ's scheduler fires jobs up to 0.9 s early, so it must never run next to ours.
        """
        self._burst = burst  # bootstrap() does not get it, and promotes once instead in burst mode
        return super().work(burst, *args, with_scheduler=False, **kwargs)

    def _set_ip_address(self, connection) -> None:
        """RQ's first call to Redis, in __init__: a worker started while Redis is away waits for it
        here (one line), instead of exiting as RQ's start does. A Redis that refuses its password
        is no outage to wait out: the worker stops (django-rq says why)."""
        waiting = False
        while True:
            try:
                return super()._set_ip_address(connection)
            except AuthenticationError:
                raise
            except RedisError as error:
                if not waiting:
                    logger.warning(
                        "worker starting: Redis at %s does not answer (%s); waiting for it",
                        queue.redis_location(),
                        error.__class__.__name__,
                    )
                waiting = True
                time.sleep(1)

    def request_stop(self, signum, frame) -> None:
        """Warm shutdown (SIGTERM, SIGINT), never with a job half taken.

        RQ raises StopRequested at once when the worker is not busy, wherever the main thread is:
        also between a dequeue and the job's start, or while a batch is being claimed, which leaves
        the job in RQ's intermediate list (or started under this dead worker's name) until recovery
        notices it, 10 s and more later. Here the worker only notes the request; it stops when its
        wait for a job ends (dequeue_job_and_maintain_ttl waits DEQUEUE_SLICE at a time) or once the
        job in hand is done. A second signal is still a cold shutdown.
        """
        rq_compat.note_stop_request(self)

    def _dequeue_in_slices(self, timeout: int | None, max_idle_time: int | None = None):
        """RQ's dequeue, in waits of DEQUEUE_SLICE, so a stop request is seen within one of them."""
        if timeout is None:  # burst mode: RQ does not wait
            return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
        idle_since = time.monotonic()
        while not rq_compat.stop_requested(self):
            # RQ returns None once idle for max_idle_time: here, after one slice without a job
            result = super().dequeue_job_and_maintain_ttl(min(timeout, DEQUEUE_SLICE), DEQUEUE_SLICE)
            if result is not None:
                return result
            if not self._told_idle:
                self._told_idle = True
                self._tell_idle()
            if max_idle_time is not None and time.monotonic() - idle_since >= max_idle_time:
                return None
        return None

    def _tell_idle(self) -> None:
        """The apps load what their events need (galactic.events.signals.worker_idle). One that
        fails is logged and the worker goes on: its events fail in their own jobs, the others run."""
        for receiver, outcome in worker_idle.send_robust(sender=type(self), worker=self):
            if isinstance(outcome, Exception):
                logger.error("%s failed at the worker's first idle moment", receiver, exc_info=outcome)

    def _start_promoter(self) -> None:
        if self._burst:  # promote what is due now, once, as RQ's burst mode does
            while queue.promote_due()[0] == queue.PROMOTE_BATCH:
                pass
            return
        self._promoter = threading.Thread(target=self._promote_forever, name="promoter", daemon=True)
        self._promoter.start()

    def _promote_forever(self) -> None:
        # Pooled, not a dedicated .client(): with Sentinel, redis-py's single-connection client
        # keeps reconnecting to the dead primary after a failover, while the pool follows it.
        connection = queue.get_connection()
        wake = None
        while not self._stop_liveness.is_set():
            try:
                wake = wake or queue.Wake(connection)
                promoted, next_due = queue.promote_due(connection)
                queue.mark_promoter(connection, self.name)
                if promoted == queue.PROMOTE_BATCH:
                    continue
                wait = queue.MAX_PROMOTER_SLEEP if next_due is None else next_due - time.time()
                # On the client's clock (a blocking command's server-side timeout is only as fine
                # as Redis's hz: 100 ms late on a stock Redis), woken sooner by an earlier job.
                wake.wait(min(wait, queue.MAX_PROMOTER_SLEEP))
            except Exception as error:  # Redis down or restarting: keep trying; never die quietly
                if isinstance(error, RedisError):
                    self._redis_down(error)
                else:
                    logger.warning("promoter: %s", error, exc_info=True)
                if wake is not None:
                    wake.close()
                wake = None
                self._stop_liveness.wait(0.5)
        if wake is not None:
            wake.close()

    def _keep_alive(self) -> None:
        connection = queue.get_connection()
        beat = queue.LIVENESS_TTL / 3
        while not self._stop_liveness.is_set():
            try:
                connection.set(queue.liveness_key(self.name), 1, ex=queue.LIVENESS_TTL)
                queue.tick()
                self._reregister_after_wipe(connection)
                with self._recovering:
                    queue.recover_abandoned()
                queue.warn_if_stalled(connection)  # promoters live but not moving: clocks, Redis
                metrics.flush(connection)
            except RedisError as error:  # Redis down or restarting: keep trying, the worker loop copes
                self._redis_down(error)
            except Exception:  # the database behind recovery's records: never end this thread
                logger.warning("liveness: crash recovery failed; trying again", exc_info=True)
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

    def execute_job(self, job: Job, rq_queue: Queue) -> None:
        with self._recovering:
            pass  # see __init__
        try:
            taken = self._take(job, rq_queue)
            if taken is None:
                return
            if taken.crashed_before:
                self._perform_watched(job, rq_queue)
            elif not rq_compat.may_batch(job, has_dependents=taken.has_dependents):
                self.perform_job(job, rq_queue)  # callbacks, dependents, repeats: RQ's own path
            elif (batch := self._batch_of(job)) is not None:
                self._execute_batch(job, batch, rq_queue)
            else:
                self._perform_alone(job, rq_queue)
        except RedisError as error:  # the job's outcome may be unrecorded: hand it back later
            self._redis_down(error)
            self._dropped_jobs = True

    def _perform_watched(self, job: Job, rq_queue: Queue) -> None:
        """A job whose worker died running it, alone and with breadcrumbs: its game-time runs go one
        instant at a time, each naming its events in Redis first (queue.leave_breadcrumb), so that
        should this worker die too, crash recovery counts the crash against the event that was
        being applied (a battle too big for memory, say), not against this job, which may only
        have had to apply it first."""
        with timeline.watching(lambda job_ids: queue.leave_breadcrumb(self.connection, job.id, job_ids)):
            self.perform_job(job, rq_queue)
        with contextlib.suppress(RedisError):  # else it expires; recovery reads it for this job only
            queue.clear_breadcrumb(self.connection, job.id)

    def _take(self, job: Job, rq_queue: Queue) -> queue.Taken | None:
        """RQ's prepare_execution, but only if crash recovery did not hand the job back meanwhile."""
        ttl = self.get_heartbeat_ttl(job)
        taken = queue.take(
            rq_queue,
            job,
            worker_name=self.name,
            worker_key=self.key,
            ttl=ttl,
            via_intermediate=len(self.queues) == 1,  # RQ dequeues through the list only then
        )
        if taken is None:
            logger.warning(
                "%s was handed back before this worker started it, or is not queued any more (started "
                "by another worker or quarantined): left alone",
                job.id,
            )
            return None
        self.execution = Execution(taken.execution_id, job.id, self.connection, worker_name=self.name)
        return taken

    # --- the attempt budget ----------------------------------------------------------------------------

    def handle_exception(self, job: Job, *exc_info) -> None:
        self._last_error = exc_info[1]
        super().handle_exception(job, *exc_info)

    def handle_job_failure(self, job: Job, queue: Queue, started_job_registry=None, exc_string: str = ""):
        """RQ's, with the failure counted against the event's budget: once spent, no more retries."""
        error, self._last_error = self._last_error, None
        counted = error is not None and not attempts.is_transient(error)
        spent = False
        if counted:
            with contextlib.suppress(RedisError):  # not counted then; RQ's retries still end
                spent = attempts.count_failure(self.connection, job.id) >= attempts.failure_budget()
            if spent:
                job.retries_left = 0  # to the failed registry, where the quarantine keeps it
        super().handle_job_failure(job, queue, started_job_registry, exc_string=exc_string)
        if counted:
            attempts.record(job.id, "failed", worker=self.name, detail=exc_string)
        if spent:
            self._quarantine(job, exc_string)

    def _quarantine(self, job: Job, error: str) -> None:
        try:
            attempts.mark_quarantined(self.connection, job.id)
        except RedisError as redis_error:
            self._redis_down(redis_error)
        due = job.meta.get("due")
        attempts.quarantine(
            job.id,
            func=job.func_name,
            args=job.args,
            due=datetime.fromtimestamp(due, UTC) if due else None,
            reason=attempts.failure_reason(),
            error=error,
        )

    def perform_job(self, job: Job, queue: Queue) -> bool:
        close_old_connections()  # drops a connection that broke or aged in the previous job
        with _Attempt(job) as attempt:
            attempt.ok = super().perform_job(job, queue)
            return attempt.ok

    def _perform_alone(self, job: Job, rq_queue: Queue) -> None:
        """A started job that may end as a batch's jobs end (rq_compat.may_batch), run as RQ's
        perform_job runs it, in one round trip instead of about a dozen: take() already wrote what
        RQ's prepare_job_execution writes, and a success is written as a batch's is, in one
        script that also sets the worker idle. A failure or a Retry goes through RQ's own
        handling (retries, the failed registry, the attempt budget)."""
        trusted = self._reuse_connections()
        with _Attempt(job) as attempt:
            try:
                with self.death_penalty_class(
                    job.timeout or rq_queue.DEFAULT_TIMEOUT, JobTimeoutException, job_id=job.id
                ):
                    result = self._call(job, reconnect=trusted)
            except Exception:
                rq_compat.fail(self, job, rq_queue, sys.exc_info())
                return
            if isinstance(result, Retry):  # what RQ's perform_job does with one
                self.handle_execution_ended(job, rq_queue, job.success_callback_timeout)
                self.handle_job_retry(job, rq_queue, result, rq_queue.started_job_registry, self.execution)
            else:
                duration = time.time() - attempt.started
                self._finish_batch([job], [self.execution], [result], duration=duration)
                self._database_answered_at = time.monotonic()
            attempt.ok = True

    def _reuse_connections(self) -> bool:
        """Before a job, what Django does before a request (close_old_connections: a connection
        that broke or outlived CONN_MAX_AGE is closed, the one kept is checked with a SELECT 1 at
        its first use); but a connection that answered the previous job less than DATABASE_TRUST
        seconds ago is trusted without the check's round trip. True if one was: the job is then
        run again at once should its connection turn out dead (_call), which is what the check
        would have found."""
        close_old_connections()
        if time.monotonic() - self._database_answered_at >= DATABASE_TRUST:
            return False
        return db.trust_connections()

    def _call(self, job: Job, *, reconnect: bool) -> object:
        """The job's function; once more on a new connection if the database broke off and
        `reconnect` (its connection was not checked: a restarted PostgreSQL ended it since the
        last job). Handlers are idempotent: what the first call committed, the second finds done."""
        try:
            return rq_compat.perform(job)
        except (OperationalError, InterfaceError) as error:
            if not reconnect:
                raise
            logger.info("%s: the database broke off (%s); again on a new connection", job.id, error)
            close_old_connections()  # the error marked the connection: checked, closed if dead
            return rq_compat.perform(job)

    # --- batches ------------------------------------------------------------------------------------

    def _batch_of(self, job: Job) -> queue.Batch | None:
        """The batch declaration of the job's function, if this job (which may end as a batch's
        jobs end: execute_job checked) may be batched."""
        if settings.GAME_EVENT_BATCH_SIZE < 2 or len(self.queues) != 1:
            return None
        if len(job.args) != 1 or job.kwargs:
            return None
        try:
            batch = getattr(job.func, "batch", None)
        except Exception:  # an unimportable function fails in RQ's own path, with its traceback
            return None
        return batch if batch is not None and job.id.startswith(batch.id_prefix) else None

    def _execute_batch(self, first: Job, batch: queue.Batch, rq_queue: Queue) -> None:
        """Run `first` with the jobs of its kind waiting near the head of the queue, as one batch;
        alone when none waits."""
        ttl = self.get_heartbeat_ttl(first)
        limit = settings.GAME_EVENT_BATCH_SIZE - 1
        claimed = queue.claim_more(rq_queue, batch.id_prefix, limit, worker_name=self.name, ttl=ttl)
        if not claimed:
            self._perform_alone(first, rq_queue)  # started already (_take)
            return
        close_old_connections()  # drops a connection that broke or aged in the previous job
        started = time.time()
        jobs, executions, strays = self._split(first, self.execution, claimed)
        if not jobs:
            self._run_alone(strays, rq_queue)
            return
        try:
            timeout = max(job.timeout or rq_queue.DEFAULT_TIMEOUT for job in jobs)
            with self.death_penalty_class(timeout, JobTimeoutException, job_id=first.id):
                results = batch.run_many([job.args[0] for job in jobs])
            if len(results) != len(jobs):
                raise RuntimeError(f"{len(results)} results for {len(jobs)} jobs")
        except Exception:
            logger.exception("batch of %d %s* jobs failed; one by one now", len(jobs), batch.id_prefix)
            strays = list(zip(jobs, executions, strict=True)) + strays
        else:
            duration = time.time() - started
            self._finish_batch(jobs, executions, results, duration=duration)
            for job in jobs:
                _record(job, ok=True, lateness=_lateness(job, started), duration=duration, batch=len(jobs))
        self._run_alone(strays, rq_queue)

    def _split(
        self, first: Job, first_execution: Execution, claimed: list[queue.Claimed]
    ) -> tuple[list[Job], list[Execution], list[tuple[Job, Execution]]]:
        """The jobs of the batch (with their executions), and the strays to run alone: another
        function under the kind's id prefix, or what a batch does not do (rq_compat.may_batch).
        The first may be batched: execute_job checked it."""
        jobs, executions, strays = [], [], []
        for job, execution, has_dependents in [(first, first_execution, False), *map(self._restore, claimed)]:
            same_kind = job.func_name == first.func_name and len(job.args) == 1 and not job.kwargs
            if same_kind and rq_compat.may_batch(job, has_dependents=has_dependents):
                jobs.append(job)
                executions.append(execution)
            else:
                strays.append((job, execution))
        return jobs, executions, strays

    def _run_alone(self, strays: list[tuple[Job, Execution]], rq_queue: Queue) -> None:
        """RQ's own path for each of these started jobs, on its own (retries, failed registry,
        callbacks, dependents), which cleans up the execution it is given."""
        for job, execution in strays:
            self.execution = execution
            self.perform_job(job, rq_queue)
        self.set_state(WorkerStatus.IDLE)

    def _restore(self, taken: queue.Claimed) -> tuple[Job, Execution, bool]:
        """A job claim_more() took: the Job (from the hash it returned), its Execution, and whether
        other jobs depend on it."""
        job = self.job_class(taken.job_id, connection=self.connection, serializer=self.serializer)
        job.restore(taken.data)
        execution = Execution(taken.execution_id, job.id, self.connection, worker_name=self.name)
        return job, execution, taken.has_dependents

    def _finish_batch(
        self, jobs: list[Job], executions: list[Execution], results: list, *, duration: float
    ) -> None:
        """What RQ does after a successful job (status, result, finished registry or deletion,
        execution cleanup, worker counters), for the whole batch in one script (queue.finish)."""
        ended_at = now()
        successes = [
            rq_compat.success(
                job,
                result,
                result_ttl=job.get_result_ttl(self.default_result_ttl),
                worker_name=self.name,
                execution=execution,
                ended_at=ended_at,
            )
            for job, execution, result in zip(jobs, executions, results, strict=True)
        ]
        queue.finish(self.connection, self.key, successes, working_time=duration * len(jobs))
        rq_compat.idle_written(self)
        self._idle_written = True


class _Attempt:
    """One run of a job on its own, recorded when it ends (_record) as `ok` says. Its lateness and
    whether a failure would be its last are read at the start, before RQ counts down the retries
    of a failure (RQ's Job.should_retry)."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.started = time.time()
        self.lateness = _lateness(job, self.started)
        self.final = not (job.retries_left and job.retries_left > 0)
        self.ok = False

    def __enter__(self) -> _Attempt:
        return self

    def __exit__(self, *exc_info: object) -> None:
        duration = time.time() - self.started
        _record(self.job, ok=self.ok, lateness=self.lateness, duration=duration, final=self.final)


def _record(
    job: Job, *, ok: bool, lateness: float | None, duration: float, batch: int = 1, final: bool = True
) -> None:
    """The worker's metrics and its one log line per event (`duration`: the whole batch's)."""
    metrics.record(job.id, ok=ok, lateness=lateness, duration=duration / batch, final=final)
    events_log.info(
        "event id=%s type=%s lateness_ms=%s duration_ms=%.1f batch=%d outcome=%s",
        job.id,
        metrics.event_type(job.id),
        "-" if lateness is None else f"{lateness * 1000:.1f}",
        duration * 1000,
        batch,
        "ok" if ok else ("failed" if final else "retry"),
    )


def _lateness(job: Job, started: float) -> float | None:
    """How late the job started against its due time; None for a retry, which is late by design."""
    due = job.meta.get("due")
    first_attempt = job.retries_left is None or job.retries_left >= len(job.retry_intervals or ())
    return started - due if due is not None and first_attempt else None
