"""The game_events queue: how every app schedules work, and what operators see of it.

This module knows no game. It schedules dotted job paths, with fixed ids and primitive
arguments, on the RQ queue `game_events`, and gives the CONTRACT's guarantees:

- `schedule()` defers the write to Redis until the surrounding transaction commits. django-rq's
  COMMIT_MODE only covers `enqueue()`, not `enqueue_at()`, so we do it ourselves.
- One id, one job: a job whose id is already queued, scheduled or started is left alone; a finished
  or failed one is replaced (the database said the event is still pending). RQ's `enqueue_at()`
  overwrites instead, and its `unique=True` only rejects any existing hash, so the check and the
  write are one Lua script.
- Due times are kept to the millisecond (RQ truncates to the second, which fires up to 0.9 s early);
  a job that is already due goes straight to the queue.
- Retries with growing delays, then the failed registry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

import django_rq
from django.conf import settings
from django.db import transaction
from redis import Redis
from redis.commands.core import Script
from rq import Queue, Retry, Worker
from rq.job import Job, JobStatus

logger = logging.getLogger(__name__)

QUEUE_NAME: str = settings.GAME_QUEUE

# KEYS: job hash, queue list, scheduled registry, failed registry, finished registry, set of queues.
# ARGV: job id, due timestamp (float seconds), now (float seconds), queue key, then HSET pairs.
# Returns 1 when it created the job, 0 when a live job with that id already existed.
_PUT_SCRIPT = """
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'queued' or status == 'scheduled' or status == 'started' or status == 'deferred' then
    return 0
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
if tonumber(ARGV[2]) <= tonumber(ARGV[3]) then
    redis.call('HSET', KEYS[1], 'status', 'queued')
    redis.call('RPUSH', KEYS[2], ARGV[1])
else
    redis.call('HSET', KEYS[1], 'status', 'scheduled')
    redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
end
redis.call('SADD', KEYS[6], ARGV[4])
return 1
"""


_connections: dict[str, Redis] = {}


def get_connection() -> Redis:
    """One Redis client (and connection pool) per configuration, kept for the process.

    django-rq builds a new client, and so a new TCP connection, on every call.
    """
    config = settings.RQ_QUEUES[QUEUE_NAME]
    key = repr(sorted(config.items()))
    if key not in _connections:
        _connections[key] = django_rq.get_connection(QUEUE_NAME)
    return _connections[key]


def get_queue() -> Queue:
    return django_rq.get_queue(QUEUE_NAME, connection=get_connection())


def schedule(func: str, *, job_id: str, at: datetime, args: tuple = ()) -> None:
    """Schedule `func(*args)` to run at `at` under `job_id`, once the current transaction commits.

    Outside a transaction it is written at once. If Redis cannot be reached the error is logged
    and swallowed: the database still holds the pending event, and `reconcile_events` enqueues it.
    """
    transaction.on_commit(partial(put, func, job_id=job_id, at=at, args=args), robust=True)


def put(func: str, *, job_id: str, at: datetime, args: tuple = ()) -> bool:
    """Write the job to Redis now, unless a live job with this id exists. True if it was written."""
    queue = get_queue()
    job = queue.create_job(
        func,
        args=args,
        job_id=job_id,
        description=f"{job_id} at {at.isoformat(timespec='milliseconds')}",
        retry=Retry(max=len(settings.GAME_EVENT_RETRY_DELAYS), interval=settings.GAME_EVENT_RETRY_DELAYS),
        result_ttl=settings.GAME_EVENT_RESULT_TTL,
        failure_ttl=None,
    )
    job.origin = queue.name
    job.enqueued_at = datetime.now(UTC)
    fields = []
    for key, value in job.to_dict().items():
        if value is not None:
            fields += [key, value]
    keys = [
        job.key,
        queue.key,
        queue.scheduled_job_registry.key,
        queue.failed_job_registry.key,
        queue.finished_job_registry.key,
        Queue.redis_queues_keys,
    ]
    now = datetime.now(UTC).timestamp()
    created = _put_script(queue.connection)(keys=keys, args=[job.id, at.timestamp(), now, queue.key, *fields])
    return bool(created)


_scripts: dict[int, Script] = {}


def _put_script(connection: Redis) -> Script:
    script = _scripts.get(id(connection))
    if script is None:
        script = _scripts[id(connection)] = connection.register_script(_PUT_SCRIPT)
    return script


@dataclass(frozen=True)
class PendingEvent:
    """An event the database says must still happen; see galactic.reconcile."""

    func: str
    job_id: str
    at: datetime
    args: tuple = ()


def job_status(job_id: str) -> str | None:
    """The RQ status of the job with this id, or None when Redis has no such job."""
    status = get_connection().hget(Job.key_for(job_id), "status")
    return status.decode() if status else None


def is_live(status: str | None) -> bool:
    return status in (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.STARTED, JobStatus.DEFERRED)


@dataclass(frozen=True)
class QueueStats:
    waiting: int
    active: int
    delayed: int
    completed: int
    failed: int
    workers: int

    def as_dict(self) -> dict[str, int]:
        return {
            "waiting": self.waiting,
            "active": self.active,
            "delayed": self.delayed,
            "completed": self.completed,
            "failed": self.failed,
        }


def get_queue_stats() -> QueueStats:
    """Counts for game_events: waiting, active (started), delayed (scheduled), completed (within the
    result TTL), failed, and live workers (a dead worker's key expires with its heartbeat)."""
    queue = get_queue()
    pipe = queue.connection.pipeline(transaction=False)
    pipe.llen(queue.key)
    for registry in (
        queue.started_job_registry,
        queue.scheduled_job_registry,
        queue.finished_job_registry,
        queue.failed_job_registry,
    ):
        pipe.zcard(registry.key)
    waiting, active, delayed, completed, failed = pipe.execute()
    workers = Worker.count(queue=queue)
    return QueueStats(waiting, active, delayed, completed, failed, workers)
