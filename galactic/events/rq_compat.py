"""Every place where the game's queue relies on RQ's or rq-scheduler's internals, in one module.

The queue writes RQ's Redis layout itself, from Lua scripts (galactic.events.queue), so that a put,
a promotion, a claim, a requeue, or the end of a job or a batch (galactic.events.worker) is one
round trip. Both must write exactly what RQ's own code writes, or RQ's readers (its workers,
registries, the django-rq dashboard) go wrong. So:

- every key name and status the scripts use comes from here, derived from RQ's own classes, and
  reaches the Lua as KEYS or ARGV: no script spells an RQ key or status;
- every call of a private RQ method or attribute, and every hand-made copy of one, is a function
  here (GameWorker otherwise overrides public methods of RQ's Worker: bootstrap, work,
  request_stop, dequeue_job_and_maintain_ttl, execute_job, perform_job, serialize, teardown,
  heartbeat, set_state, check_for_suspension, run_maintenance_tasks, handle_exception,
  handle_job_failure;
  and one private one, _set_ip_address, RQ's first Redis call in Worker.__init__, where a worker
  started while Redis is away waits for it: tests/galactic/test_rq_contract.py checks that
  __init__ still calls it);
- tests/galactic/test_rq_contract.py builds each state through RQ's code and through ours and
  compares them; its first test fails when the installed rq, rq-scheduler or django-rq is not
  the version this module was checked against (rq 2.12.0, rq-scheduler 0.14.0, django-rq 4.2.0).

Upgrading RQ: read the changes of Job (fields, to_dict, _handle_success, cleanup, delete), Result
(serialize, save), Execution and ExecutionRegistry, StartedJobRegistry (its "<job id>:<execution
id>" members), FinishedJobRegistry.add, Worker (its key, counters, registration, stop request,
handle_job_success) and rq-scheduler's Scheduler (_create_job, its registrations key); adjust this
module and the scripts; run the contract tests; then update their WRITTEN_FOR.
"""

from __future__ import annotations

import json
import signal
import traceback
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType

from rq.executions import Execution, ExecutionRegistry
from rq.job import Job, JobStatus, _job_stack
from rq.queue import Queue
from rq.results import Result
from rq.utils import current_timestamp, now, parse_composite_key
from rq.worker import Worker, WorkerStatus
from rq.worker_registration import WORKERS_BY_QUEUE_KEY
from rq_scheduler import Scheduler

# --- the key layout -----------------------------------------------------------------------------------

JOB_PREFIX: str = Job.redis_job_namespace_prefix  # "rq:job:" + job id
WORKER_PREFIX: str = Worker.redis_worker_namespace_prefix  # "rq:worker:" + worker name
EXECUTIONS_PREFIX: str = ExecutionRegistry.key_template.format("")  # "rq:executions:" + job id
DEPENDENTS_SUFFIX: str = Job.dependents_key_for("x").removeprefix(Job.key_for("x"))  # ":dependents"
# what every key of RQ's starts with ("rq:"), to tell its keys from another program's
NAMESPACE: str = JOB_PREFIX[: JOB_PREFIX.index(":") + 1]
if not all(p.startswith(NAMESPACE) for p in (WORKER_PREFIX, Queue.redis_queue_namespace_prefix)):
    raise RuntimeError("RQ's keys have no common namespace: re-check galactic/events/rq_compat.py")
# rq-scheduler's registrations (the periodic jobs), a sorted set of job ids by next due time
SCHEDULER_REGISTRATIONS_KEY: str = Scheduler.scheduled_jobs_key


def _execution_prefix() -> str:
    """The part of an execution's key before "<job id>:<execution id>" ("rq:execution:")."""
    sample = Execution(id="execution", job_id="job", connection=None)
    if sample.composite_key != "job:execution" or not sample.key.endswith(sample.composite_key):
        raise RuntimeError("RQ names executions differently: re-check galactic/events/rq_compat.py")
    return sample.key.removesuffix(sample.composite_key)


EXECUTION_PREFIX: str = _execution_prefix()

# ExecutionRegistry.add: an execution's entry outlives its heartbeat TTL by this many seconds
EXECUTION_REGISTRY_GRACE = 60


def execution_key(registry_member: str) -> str:
    """The execution hash of a started registry member "<job id>:<execution id>"."""
    return EXECUTION_PREFIX + registry_member


def registry_member(job_id: str, execution_id: str) -> str:
    """The started registry's member for one execution of a job: "<job id>:<execution id>"."""
    return Execution(id=execution_id, job_id=job_id, connection=None).composite_key


def job_id_of(registry_member: str) -> str:
    """The job id of a started registry member "<job id>:<execution id>"."""
    return parse_composite_key(registry_member)[0]


def workers_of_queue_key(queue_name: str) -> str:
    """The set of the worker keys ("rq:worker:<name>") registered on a queue."""
    return WORKERS_BY_QUEUE_KEY % queue_name


def worker_key(name: str) -> str:
    return WORKER_PREFIX + name


def worker_name_of(key: str) -> str:
    return key.removeprefix(WORKER_PREFIX)


# --- statuses -------------------------------------------------------------------------------------------

# A job in one of these is waiting or running: a put() with its id leaves it alone.
LIVE_STATUSES: tuple[str, ...] = (
    JobStatus.QUEUED,
    JobStatus.SCHEDULED,
    JobStatus.STARTED,
    JobStatus.DEFERRED,
)
QUEUED: str = JobStatus.QUEUED.value
SCHEDULED: str = JobStatus.SCHEDULED.value
STARTED: str = JobStatus.STARTED.value
FAILED: str = JobStatus.FAILED.value
BUSY: str = WorkerStatus.BUSY.value  # a worker's state while it runs a job
IDLE: str = WorkerStatus.IDLE.value  # and while it waits for one


def is_live(status: str | None) -> bool:
    return status in LIVE_STATUSES


def live_statuses_arg() -> str:
    """LIVE_STATUSES as one Lua argument: ",queued,scheduled,...," (the script looks for ",<status>,")."""
    return "," + ",".join(str(status.value) for status in LIVE_STATUSES) + ","


# --- batches --------------------------------------------------------------------------------------------


def may_batch(job: Job, *, has_dependents: bool) -> bool:
    """Whether the batch path may end this job. It writes what RQ writes for a plain success, but
    runs no callback, enqueues no dependent and schedules no repeat: a job with any of those runs
    through RQ's own code."""
    # the names as stored (the public success_callback etc. would import the functions)
    callbacks = (job._success_callback_name, job._failure_callback_name, job._stopped_callback_name)
    return not any(callbacks) and job.repeats_left is None and not has_dependents


@dataclass(frozen=True)
class Success:
    """What RQ's Worker.handle_job_success writes for one job that succeeded (Job._handle_success,
    Job.cleanup, Execution.delete; or, when results are not kept, the job deleted), as the values
    galactic.events.queue.finish writes in one script for a whole batch. The worker's counters and
    state are the script's own arguments."""

    job_id: str
    result_ttl: int  # 0: the job is deleted; -1: kept for good; else kept this many seconds
    job_key: str
    dependents_key: str
    dependencies_key: str
    execution_key: str
    started_registry_key: str
    started_member: str  # "<job id>:<execution id>"
    executions_key: str  # the job's execution registry
    execution_id: str
    finished_registry_key: str
    finished_score: int | str  # FinishedJobRegistry.add's score: when it expires, or "+inf"
    results_key: str
    job_fields: dict  # the job hash, as Job.save(include_meta=False, include_result=False) writes it
    result_fields: dict  # the result stream's entry, as Result.save writes it


def success(
    job: Job, result: object, *, result_ttl: int, worker_name: str, execution: Execution, ended_at: datetime
) -> Success:
    """The job object as RQ leaves it after a success (status, end, result), and what RQ would write."""
    job.ended_at = ended_at
    job._status = JobStatus.FINISHED
    job._result = result  # what Result.create stores; RQ has no public setter
    kept = result_ttl != 0
    score: int | str = result_ttl if result_ttl < 0 else current_timestamp() + result_ttl
    entry = (
        Result(
            job_id=job.id,
            type=Result.Type.SUCCESSFUL,
            connection=job.connection,
            return_value=result,
            worker_name=worker_name,
            serializer=job.serializer,
            execution_id=execution.id,
            execution_started_at=execution.created_at,
            execution_ended_at=ended_at,
        ).serialize()
        if kept
        else {}
    )
    return Success(
        job_id=job.id,
        result_ttl=result_ttl,
        job_key=job.key,
        dependents_key=job.dependents_key,
        dependencies_key=job.dependencies_key,
        execution_key=execution.key,
        started_registry_key=job.started_job_registry.key,
        started_member=execution.composite_key,
        executions_key=job.execution_registry.key,
        execution_id=execution.id,
        finished_registry_key=job.finished_job_registry.key,
        finished_score="+inf" if score == -1 else score,
        results_key=Result.get_key(job.id),
        job_fields=job.to_dict(include_meta=False, include_result=False) if kept else {},
        result_fields=entry,
    )


def idle_written(worker: Worker) -> None:
    """The worker object as Worker.set_state(IDLE) leaves it, once a script wrote the state."""
    worker._state = WorkerStatus.IDLE


def perform(job: Job) -> object:
    """Job.perform without its PERSIST round trip (galactic.events.queue.take persisted the job's
    hash): the job on RQ's stack of current jobs (rq.get_current_job), its function called."""
    _job_stack.push(job)
    try:
        job._result = job._execute()
    finally:
        _job_stack.pop()
    return job._result


def fail(
    worker: Worker,
    job: Job,
    queue: Queue,
    exc_info: tuple[type[BaseException], BaseException, TracebackType],
) -> None:
    """What RQ's Worker.perform_job does once a job without a failure callback (may_batch) raised:
    the job's status, end time and heartbeat, the worker's exception handlers, then its failure
    handling (a retry, or the failed registry)."""
    job._status = JobStatus.FAILED
    worker.handle_execution_ended(job, queue, job.failure_callback_timeout)
    exc_string = "".join(traceback.format_exception(*exc_info))
    worker.handle_exception(job, *exc_info)
    worker.handle_job_failure(
        job=job, exc_string=exc_string, queue=queue, started_job_registry=queue.started_job_registry
    )


def mark_started(job: Job, *, worker_name: str, at: datetime) -> None:
    """The job object as RQ's Worker.prepare_job_execution leaves it, once a script wrote the same
    to its hash (galactic.events.queue.take)."""
    job.started_at = job.last_heartbeat = at
    job.worker_name = worker_name
    job._status = JobStatus.STARTED


# --- the worker's stop request ---------------------------------------------------------------------------


def note_stop_request(worker: Worker) -> None:
    """What RQ's Worker.request_stop records of a warm shutdown request (a second signal is a cold
    shutdown), without raising StopRequested: the worker stops where it chooses to look."""
    worker._shutdown_requested_date = now()
    signal.signal(signal.SIGINT, worker.request_force_stop)
    signal.signal(signal.SIGTERM, worker.request_force_stop)
    worker.handle_warm_shutdown_request()
    worker._stop_requested = True


def stop_requested(worker: Worker) -> bool:
    return worker._stop_requested


# --- rq-scheduler ---------------------------------------------------------------------------------------


def scheduler_job(scheduler: Scheduler, func: str, **options: object) -> Job:
    """A job as rq-scheduler makes it (status scheduled, the scheduler's queue class), not saved:
    Scheduler._create_job, which its own schedule() and cron() use."""
    return scheduler._create_job(func, commit=False, **options)


# --- the job hash put() writes -------------------------------------------------------------------------

# Fields of RQ's job hash that a game event's job never needs when it is written: its description
# (the job id says what it is; RQ's Job.fetch and django-rq's pages read a missing one as None).
_NOT_STORED = frozenset({"description"})


def lean_job_fields(job: Job, *, queued_now: bool) -> list:
    """The job hash's fields, as RQ's Job.to_dict() gives them, less what costs Redis memory for
    nothing, per scheduled event: the empty fields (callbacks, started_at, worker_name, ...: RQ
    reads a missing field as empty and writes them when the job runs), the description, and
    enqueued_at of a job that is not queued yet (the promoter writes it when it queues the job).
    created_at is kept to the second and the retry delays without spaces, forms RQ reads as well:
    with them a job's hash fits Redis's next smaller allocation (about 320 bytes less per event
    than RQ's own fields). Job.fetch reads back the same job (tests/galactic/test_queue.py); the
    differences from RQ's own hash are listed in tests/galactic/test_rq_contract.py."""
    fields = []
    for key, value in job.to_dict().items():
        if value is None or value == "" or key in _NOT_STORED:
            continue
        if key == "enqueued_at" and not queued_now:
            continue
        if key == "created_at":
            value = job.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        elif key == "retry_intervals":
            value = json.dumps(job.retry_intervals, separators=(",", ":"))
        fields += [key, value]
    return fields
