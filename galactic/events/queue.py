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
  a job that is already due goes straight to the queue, the others are moved there on time by
  the workers' promoter threads (`promote_due`, see galactic.events.worker).
- Retries with growing delays, then the failed registry.
- The jobs of a dead worker go back to the queue within seconds (`recover_abandoned`), at most
  GAME_EVENT_MAX_HANDBACKS times each; the next crash quarantines the job (galactic.events.attempts).
- A job runs on one worker at a time: a GameWorker starts a job it dequeued only by taking it out
  of the intermediate list (`take`), and crash recovery hands back a stranded job only by taking it
  out of that same list, in one Lua script each: exactly one of them wins.
- A hung or dead Redis costs the web one socket timeout, then nothing for REDIS_BREAKER_SECONDS
  (`breaker`): events written meanwhile wait for reconciliation.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from uuid import uuid4

import django_rq
from django.conf import settings
from django.db import transaction
from redis import Redis
from redis.commands.core import Script
from redis.exceptions import NoScriptError, RedisError
from rq import Queue, Retry
from rq.job import Job
from rq.utils import now, utcformat

from galactic.events import metrics, rq_compat

logger = logging.getLogger(__name__)

QUEUE_NAME: str = settings.GAME_QUEUE

WAKE_CHANNEL = "gc:scheduler:wake"  # promoters listen on it; put() publishes when a job is due sooner
PROMOTERS_KEY = "gc:promoters"  # sorted set: worker name -> when its promoter last made a pass
MAX_PROMOTER_SLEEP = 1.0  # seconds; also catches RQ's own retries, which are scheduled without a wake-up
PROMOTER_TTL = 5.0  # seconds a promoter counts as live after its last pass
OVERDUE_GRACE = 5.0  # seconds a delayed event may be overdue before /health, the admin and logs say so
PROMOTE_BATCH = 500
CLAIM_WINDOW = 4  # a batch of a kind is taken from the first CLAIM_WINDOW x batch size queued jobs

# A job whose worker died must run again soon (CONTRACT: within 30 s of a SIGKILL), not after
# RQ's own timeouts (the worker key lives job timeout + 60 s, registries are cleaned every 10 min).
# So every GameWorker keeps a short-lived liveness key fresh from a background thread, and any
# process may hand the started jobs of a worker whose key expired back to the queue.
LIVENESS_TTL = 6  # seconds; the worker refreshes its key every LIVENESS_TTL / 3
INTERMEDIATE_GRACE = 10  # seconds a dequeued job may sit before a worker starts it
ATTEMPTS_TTL = 7 * 24 * 3600  # as galactic.events.attempts.COUNTER_TTL
DEFAULT_FAILURE_TTL = 365 * 24 * 3600  # RQ's: how long the failed registry keeps a job


# The scripts below write RQ's layout: every RQ key name and status reaches them from
# galactic.events.rq_compat, as KEYS or ARGV.

# Writes up to PUT_CHUNK jobs, each unless a live job with its id exists. KEYS: queue list,
# scheduled registry, failed registry, finished registry, set of queues, the promoters' wake-up
# channel (a channel, not a key; passed here so the script names no constant). ARGV: queue key, the
# live statuses (",queued,scheduled,...,"), the queued status, the scheduled status, now, then per
# job: its hash's key, its id, its due timestamp (float seconds), the number of HSET values and
# those values (field, value, ...). Returns per job 1 when it created the job, 0 when a live job
# with that id already existed.
# A quarantined event is not written by reconciliation, which reads the quarantine in PostgreSQL: a
# mark here that the database missed (it was down) would wedge the event for good.
_PUT_SCRIPT = """
local now, written, i = tonumber(ARGV[5]), {}, 6
while i <= #ARGV do
    local job, id, due_text, fields_at = ARGV[i], ARGV[i + 1], ARGV[i + 2], i + 4
    local due = tonumber(due_text)
    i = fields_at + tonumber(ARGV[i + 3])
    local status = redis.call('HGET', job, 'status')
    if status and string.find(ARGV[2], ',' .. status .. ',', 1, true) then
        written[#written + 1] = 0
    else
        redis.call('DEL', job)
        redis.call('ZREM', KEYS[3], id)
        redis.call('ZREM', KEYS[4], id)
        redis.call('HSET', job, unpack(ARGV, fields_at, i - 1))
        if due <= now then
            redis.call('HSET', job, 'status', ARGV[3])
            redis.call('RPUSH', KEYS[1], id)
        else
            redis.call('HSET', job, 'status', ARGV[4])
            local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
            redis.call('ZADD', KEYS[2], due, id)
            if first[2] == nil or due < tonumber(first[2]) then
                -- due sooner than anything the promoters wait for: wake them
                redis.call('PUBLISH', KEYS[6], due_text)
            end
        end
        redis.call('SADD', KEYS[5], ARGV[1])
        written[#written + 1] = 1
    end
end
return written
"""
PUT_CHUNK = 100  # jobs per script call: a longer script would hold Redis up for other clients

# Moves due jobs from the scheduled registry to the queue, atomically, so any number of workers
# may run it at once and each job is promoted once. KEYS: scheduled registry, queue list.
# ARGV: now (float seconds), batch size, job key prefix, enqueued_at text, the queued status.
# Returns {promoted, score of the next scheduled job or false}.
_PROMOTE_SCRIPT = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(due) do
    redis.call('ZREM', KEYS[1], id)
    local job = ARGV[3] .. id
    if redis.call('EXISTS', job) == 1 then
        redis.call('HSET', job, 'status', ARGV[5], 'enqueued_at', ARGV[4])
        redis.call('RPUSH', KEYS[2], id)
    end
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {#due, first[2] or false}
"""


# Takes more jobs of one kind for a GameWorker batch and starts them, in one step. It looks at the
# first `window` queued jobs (all due: a queue holds only due jobs), takes up to `limit` of those
# whose id has the kind's prefix, and puts the others back at the head in their order: a crowd of
# arrivals and returns, interleaved, is worked off as a batch of each, and a job of another kind
# waits at most one batch longer. For each job taken it does what RQ does when a worker starts a
# job (rq.executions.Execution.create and Job.prepare_for_execution: the execution hash and its
# registry, the started registry's "<job id>:<execution id>" member, the job's status, start time
# and worker). Being one script, a job is never popped without being started under the worker's
# name, so a worker that dies here leaves nothing in between: its started jobs are handed back by
# recover_abandoned. Ids whose job hash is gone are dropped, as RQ's dequeue drops them, and so are
# ids whose job is not queued (an id that reached the queue twice: its other copy runs, or was
# quarantined).
# KEYS: queue list, started registry. ARGV: prefix, worker name, now (epoch seconds), now (RQ's
# text form), heartbeat ttl, job key prefix, window, most jobs to take, a fresh random execution id
# prefix (the n-th job taken gets it with n appended), execution key prefix, execution registry
# key prefix, the seconds an execution registry entry outlives the ttl, the started status, the
# suffix of a job's dependents key, the prefix of the attempt counters (a job handed back after a
# crash is left for a worker to run alone), the queued status. Returns {job id, execution id, the
# job hash as HGETALL gives it, 1 if the job has dependents} per job taken.
_CLAIM_SCRIPT = """
local prefix, worker, now, now_text = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local ttl, limit, grace = tonumber(ARGV[5]), tonumber(ARGV[8]), tonumber(ARGV[12])
local head = redis.call('LPOP', KEYS[1], tonumber(ARGV[7]))
if not head then return {} end
local taken, others = {}, {}
for _, id in ipairs(head) do
    local job = ARGV[6] .. id
    if #taken == limit or string.sub(id, 1, #prefix) ~= prefix
        or redis.call('HEXISTS', ARGV[15] .. id, 'crashes') == 1 then
        others[#others + 1] = id  -- a job handed back after a crash runs alone
    elseif redis.call('HGET', job, 'status') == ARGV[16] then
        local execution_id = ARGV[9] .. (#taken + 1)
        local member = id .. ':' .. execution_id
        local execution = ARGV[10] .. member
        local executions = ARGV[11] .. id
        redis.call('HSET', execution, 'id', execution_id, 'created_at', now, 'last_heartbeat', now,
            'worker_name', worker)
        redis.call('EXPIRE', execution, ttl)
        redis.call('ZADD', executions, now + ttl + grace, execution_id)
        redis.call('EXPIRE', executions, ttl + grace)
        redis.call('ZADD', KEYS[2], now + ttl, member)
        redis.call('HSET', job, 'status', ARGV[13], 'started_at', now_text, 'last_heartbeat', now_text,
            'worker_name', worker)
        local dependents = redis.call('EXISTS', job .. ARGV[14])
        taken[#taken + 1] = {id, execution_id, redis.call('HGETALL', job), dependents}
    end
end
for i = #others, 1, -1 do
    redis.call('LPUSH', KEYS[1], others[i])
end
return taken
"""


@dataclass(frozen=True)
class Batch:
    """How a GameWorker runs many due jobs of one kind at once (see galactic.events.worker).

    `id_prefix` names the kind's job ids; `run_many` takes the single argument of each job, in
    order, does all their work in one transaction (all or nothing) and returns their results in
    the same order. Only for jobs written by put() (no dependents, no callbacks).
    """

    id_prefix: str
    run_many: Callable[[list], list]


def batchable(func: Callable, *, id_prefix: str, run_many: Callable[[list], list]) -> None:
    """Declare that the GameWorker may run jobs of `func` (one argument each) through `run_many`."""
    func.batch = Batch(id_prefix, run_many)


@dataclass(frozen=True)
class Claimed:
    """A job claim_more() took and started: its id, execution id, job hash (HGETALL form), and
    whether other jobs depend on it."""

    job_id: str
    execution_id: str
    data: dict[bytes, bytes]
    has_dependents: bool


def claim_more(queue: Queue, id_prefix: str, limit: int, *, worker_name: str, ttl: int) -> list[Claimed]:
    """Take up to `limit` more jobs of one kind from the first CLAIM_WINDOW x `limit` jobs of the
    queue and start them under `worker_name` (see _CLAIM_SCRIPT); the started registry keeps them
    `ttl` seconds."""
    if limit <= 0:
        return []
    started = now()
    args = [
        id_prefix,
        worker_name,
        started.timestamp(),
        utcformat(started),
        ttl,
        rq_compat.JOB_PREFIX,
        CLAIM_WINDOW * limit,
        limit,
        uuid4().hex,  # one per call, not per job: this runs before every batchable job
        rq_compat.EXECUTION_PREFIX,
        rq_compat.EXECUTIONS_PREFIX,
        rq_compat.EXECUTION_REGISTRY_GRACE,
        rq_compat.STARTED,
        rq_compat.DEPENDENTS_SUFFIX,
        ATTEMPTS_PREFIX,
        rq_compat.QUEUED,
    ]
    keys = [queue.key, queue.started_job_registry.key]
    taken = _script(queue.connection, _CLAIM_SCRIPT)(keys=keys, args=args)
    return [
        Claimed(
            job_id.decode(),
            execution_id.decode(),
            dict(zip(data[::2], data[1::2], strict=True)),
            has_dependents=bool(dependents),
        )
        for job_id, execution_id, data, dependents in taken
    ]


LIVENESS_PREFIX = "gc:alive:"


def liveness_key(worker_name: str) -> str:
    return LIVENESS_PREFIX + worker_name  # the Lua below builds the same name


# A GameWorker starts the job it dequeued with this script instead of RQ's two round trips. The job
# leaves the intermediate list here, and only if it is still there: crash recovery may have handed
# it back (as stranded) since the dequeue, and then another worker runs it, not this one. What it
# writes is what RQ writes when a worker starts a job (as in _CLAIM_SCRIPT), the worker's
# heartbeat, and Job.perform's PERSIST of the job hash (the worker's lone path skips that call).
# KEYS: intermediate list, started registry, job hash, the job's attempt counters, worker hash,
# execution hash, execution registry, the job's dependents. ARGV: job id, execution id, worker
# name, now (epoch seconds), now (RQ's text form), heartbeat ttl, '1' when the job came through
# the intermediate list, the seconds an execution registry entry outlives the ttl, the started
# status, the worker's busy state, the queued status. Returns false when the job was taken away
# or is not queued (an id that reached the queue twice: its other copy runs, or was quarantined),
# else {1, 1 if it was handed back after a crash before, 1 if other jobs depend on it}.
_TAKE_SCRIPT = """
local id, execution_id, worker, now, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[6])
if ARGV[7] == '1' and redis.call('LREM', KEYS[1], 1, id) == 0 then return false end
if redis.call('HGET', KEYS[3], 'status') ~= ARGV[11] then return false end
local grace = tonumber(ARGV[8])
redis.call('HSET', KEYS[6], 'id', execution_id, 'created_at', now, 'last_heartbeat', now,
    'worker_name', worker)
redis.call('EXPIRE', KEYS[6], ttl)
redis.call('ZADD', KEYS[7], now + ttl + grace, execution_id)
redis.call('EXPIRE', KEYS[7], ttl + grace)
redis.call('ZADD', KEYS[2], now + ttl, id .. ':' .. execution_id)
redis.call('HSET', KEYS[3], 'status', ARGV[9], 'started_at', ARGV[5], 'last_heartbeat', ARGV[5],
    'worker_name', worker)
redis.call('PERSIST', KEYS[3])
redis.call('HSET', KEYS[5], 'current_job', id, 'state', ARGV[10], 'last_heartbeat', ARGV[5],
    'current_job_working_time', 0)
redis.call('EXPIRE', KEYS[5], ttl)
return {1, redis.call('HEXISTS', KEYS[4], 'crashes'), redis.call('EXISTS', KEYS[8])}
"""


@dataclass(frozen=True)
class Taken:
    execution_id: str
    crashed_before: bool  # handed back after a crash: run it alone, so that a crash is its own
    has_dependents: bool  # other jobs depend on it: RQ's own path ends it (rq_compat.may_batch)


def take(
    rq_queue: Queue, job: Job, *, worker_name: str, worker_key: str, ttl: int, via_intermediate: bool
) -> Taken | None:
    """Start the dequeued `job` under `worker_name`, unless crash recovery took it away first (None)."""
    started = now()
    execution_id = uuid4().hex
    keys = [
        rq_queue.intermediate_queue_key,
        rq_queue.started_job_registry.key,
        job.key,
        attempts_key(job.id),
        worker_key,
        rq_compat.execution_key(rq_compat.registry_member(job.id, execution_id)),
        rq_compat.EXECUTIONS_PREFIX + job.id,
        job.dependents_key,
    ]
    args = [job.id, execution_id, worker_name, started.timestamp(), utcformat(started), ttl]
    args += [int(via_intermediate), rq_compat.EXECUTION_REGISTRY_GRACE, rq_compat.STARTED, rq_compat.BUSY]
    args += [rq_compat.QUEUED]
    answer = _script(rq_queue.connection, _TAKE_SCRIPT)(keys=keys, args=args)
    if not answer:
        return None
    rq_compat.mark_started(job, worker_name=worker_name, at=started)
    return Taken(execution_id, crashed_before=bool(answer[1]), has_dependents=bool(answer[2]))


# A GameWorker ends its jobs that succeeded (a batch's, or one alone) with this script: for each, what
# RQ's worker writes after a success (rq_compat.Success: the job hash, its result and the finished
# registry, or the job deleted when results are not kept; the execution removed), then the worker's
# counters and its idle state. One command instead of RQ's transaction of about fifteen per job,
# each of which redis-py builds, packs and parses in Python: a worker's CPU per job that does
# nothing went from 1.12 to 0.98 ms (bench/README.md).
# KEYS: worker hash. ARGV: the worker's idle state, how many jobs, their working time (seconds),
# then per job the 13 values of rq_compat.Success (as _success_args orders them), the number of
# job hash values and those values (field, value, ...), the number of result entry values and them.
_FINISH_SCRIPT = """
local i = 4
for _ = 1, tonumber(ARGV[2]) do
    local id, ttl, job, dependents, dependencies = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2], ARGV[i + 3],
        ARGV[i + 4]
    local execution, started, member, executions = ARGV[i + 5], ARGV[i + 6], ARGV[i + 7], ARGV[i + 8]
    local execution_id, finished, score, results = ARGV[i + 9], ARGV[i + 10], ARGV[i + 11], ARGV[i + 12]
    local fields_at, fields = i + 14, tonumber(ARGV[i + 13])
    local entry_at, entry = fields_at + fields + 1, tonumber(ARGV[fields_at + fields])
    i = entry_at + entry
    if ttl ~= 0 then
        redis.call('HSET', job, unpack(ARGV, fields_at, fields_at + fields - 1))
        redis.call('XADD', results, 'MAXLEN', '~', '10', '*', unpack(ARGV, entry_at, entry_at + entry - 1))
        if ttl == -1 then redis.call('PERSIST', results) else redis.call('EXPIRE', results, ttl) end
        redis.call('ZADD', finished, score, id)
        if ttl > 0 then
            redis.call('EXPIRE', job, ttl)
            redis.call('EXPIRE', dependents, ttl)
            redis.call('EXPIRE', dependencies, ttl)
        end
    end
    redis.call('DEL', execution)
    redis.call('ZREM', started, member)
    redis.call('ZREM', executions, execution_id)
    if ttl == 0 then redis.call('DEL', job, dependents, dependencies, executions) end
end
redis.call('HINCRBY', KEYS[1], 'successful_job_count', ARGV[2])
redis.call('HINCRBYFLOAT', KEYS[1], 'total_working_time', ARGV[3])
redis.call('HDEL', KEYS[1], 'current_job')
redis.call('HSET', KEYS[1], 'state', ARGV[1])
"""


def finish(
    connection: Redis, worker_key: str, successes: list[rq_compat.Success], working_time: float
) -> None:
    """End these started jobs as succeeded and set the worker idle, in one step (_FINISH_SCRIPT)."""
    args: list = [rq_compat.IDLE, len(successes), working_time]
    for success in successes:
        args += _success_args(success)
    _script(connection, _FINISH_SCRIPT)(keys=[worker_key], args=args)


def _success_args(success: rq_compat.Success) -> list:
    fields = [item for pair in success.job_fields.items() for item in pair]
    entry = [item for pair in success.result_fields.items() for item in pair]
    return [
        success.job_id,
        success.result_ttl,
        success.job_key,
        success.dependents_key,
        success.dependencies_key,
        success.execution_key,
        success.started_registry_key,
        success.started_member,
        success.executions_key,
        success.execution_id,
        success.finished_registry_key,
        success.finished_score,
        success.results_key,
        len(fields),
        *fields,
        len(entry),
        *entry,
    ]


ATTEMPTS_PREFIX = "gc:attempts:"


def attempts_key(job_id: str) -> str:
    return ATTEMPTS_PREFIX + job_id  # as galactic.events.attempts.counter_key


# After Redis was unreachable, hung or wiped, expired liveness keys say nothing: live workers could
# not refresh them. Every liveness pass ticks; a tick that finds no other tick for HOLD_GAP seconds
# holds crash recovery for LIVENESS_TTL seconds, time enough for every live worker to refresh its
# key. Without it, the first pass after a 10 s hang would hand back the jobs live workers still run.
TICK_KEY = "gc:recovery:tick"
HOLD_KEY = "gc:recovery:hold"
HOLD_GAP = LIVENESS_TTL / 2

# KEYS: tick, hold. ARGV: gap, hold seconds. Returns 1 when it started a hold.
_TICK_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
redis.call('SET', KEYS[1], tostring(now))
if now - last > tonumber(ARGV[1]) then
    redis.call('SET', KEYS[2], 1, 'EX', ARGV[2])
    return 1
end
return 0
"""


def tick() -> bool:
    """One liveness pass was here (see TICK_KEY). True when it put crash recovery on hold."""
    connection = get_connection()
    return bool(_script(connection, _TICK_SCRIPT)(keys=[TICK_KEY, HOLD_KEY], args=[HOLD_GAP, LIVENESS_TTL]))


# A job that runs again after a crash leaves a breadcrumb while it applies each instant of game
# time: the job ids of the events it is applying (galactic.timeline.watching). Should its worker
# die then, the crash is counted against those events, unless the job's own event is among them.
BREADCRUMB_PREFIX = "gc:applying:"
BREADCRUMB_TTL = 3600


def leave_breadcrumb(connection: Redis, job_id: str, event_job_ids: list[str]) -> None:
    connection.set(BREADCRUMB_PREFIX + job_id, ",".join(event_job_ids), ex=BREADCRUMB_TTL)


def clear_breadcrumb(connection: Redis, job_id: str) -> None:
    connection.delete(BREADCRUMB_PREFIX + job_id)


# KEYS: started registry, job hash, queue list, execution hash, the job's attempt counters, hold
# key, failed registry, the job's breadcrumb. ARGV: registry member ("<job id>:<execution id>"),
# job id, most hand-backs, the name of a live worker that dropped its jobs (after losing Redis
# mid-job) or '', the failed registry's score (expiry) for a quarantined job, now (RQ's text form),
# counters' ttl, RQ's worker key prefix, our liveness key prefix, the started, queued and failed
# statuses.
# The worker's name is read here, not before: RQ registers the execution (with the worker's name)
# one round trip before it writes it to the job hash, and a name read in that gap would look like
# nobody's. The worker's keys are derived from its name (fine on a standalone Redis or Sentinel;
# not Redis Cluster, which RQ does not support either). A crash is counted in the job's attempt
# counters: past the most hand-backs the job goes to the failed registry, quarantined.
# Returns {0} (left alone), {1, worker} (handed back), {2, worker} (quarantined) or {3, worker,
# breadcrumb} (handed back, the crash to be counted against the breadcrumb's events).
_REQUEUE_ABANDONED_SCRIPT = """
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return {0} end
local worker = redis.call('HGET', KEYS[4], 'worker_name')
if not worker or worker == '' then worker = redis.call('HGET', KEYS[2], 'worker_name') end
if not worker or worker == '' then return {0} end
local dropped = worker == ARGV[4]
if not dropped then
    if redis.call('EXISTS', KEYS[6]) == 1 then return {0} end
    local record = ARGV[8] .. worker
    local alive
    if redis.call('HGET', record, 'liveness') then
        alive = redis.call('EXISTS', ARGV[9] .. worker) == 1
    else
        alive = redis.call('EXISTS', record) == 1
    end
    if alive then return {0} end
end
redis.call('ZREM', KEYS[1], ARGV[1])
local status = redis.call('HGET', KEYS[2], 'status')
if status ~= ARGV[10] and status ~= ARGV[11] then return {0} end
redis.call('HDEL', KEYS[2], 'worker_name')
local crumb = redis.call('GET', KEYS[8])
if crumb and not string.find(',' .. crumb .. ',', ',' .. ARGV[2] .. ',', 1, true) then
    redis.call('DEL', KEYS[8])
else
    crumb = nil
end
if not dropped and not crumb then
    local crashes = redis.call('HINCRBY', KEYS[5], 'crashes', 1)
    redis.call('EXPIRE', KEYS[5], ARGV[7])
    if crashes > tonumber(ARGV[3]) then
        redis.call('HSET', KEYS[5], 'quarantined', 1)
        redis.call('HSET', KEYS[2], 'status', ARGV[12], 'ended_at', ARGV[6])
        redis.call('ZADD', KEYS[7], ARGV[5], ARGV[2])
        return {2, worker}
    end
end
redis.call('HSET', KEYS[2], 'status', ARGV[11], 'enqueued_at', ARGV[6])
redis.call('RPUSH', KEYS[3], ARGV[2])
if crumb and not dropped then return {3, worker, crumb} end
return {1, worker}
"""

# A job dequeued by a worker that died before starting it stays in the intermediate list. The first
# sighting starts a clock (a marker holding the job's enqueued_at, so that a later trip of the same
# id through the list starts a new clock); INTERMEDIATE_GRACE seconds later the job is handed back,
# in the same step as it leaves the list, so a worker that was merely slow cannot start it (see
# _TAKE_SCRIPT). KEYS: intermediate list, job hash, queue list, marker. ARGV: job id, grace
# seconds, now (RQ's text form), the queued status. Returns 1 when it handed the job back.
_REQUEUE_STRANDED_SCRIPT = """
if not redis.call('LPOS', KEYS[1], ARGV[1]) then
    redis.call('DEL', KEYS[4])
    return 0
end
if redis.call('HGET', KEYS[2], 'status') ~= ARGV[4] then return 0 end
local stamp = redis.call('HGET', KEYS[2], 'enqueued_at') or ''
local grace = tonumber(ARGV[2])
if redis.call('GET', KEYS[4]) ~= stamp then
    redis.call('SET', KEYS[4], stamp, 'EX', grace * 3)
    return 0
end
if redis.call('TTL', KEYS[4]) > grace * 2 then return 0 end
redis.call('LREM', KEYS[1], 1, ARGV[1])
redis.call('DEL', KEYS[4])
redis.call('HSET', KEYS[2], 'enqueued_at', ARGV[3])
redis.call('RPUSH', KEYS[3], ARGV[1])
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


@dataclass(frozen=True)
class PendingEvent:
    """An event the database says must still happen; see galactic.events.reconcile."""

    func: str
    job_id: str
    at: datetime
    args: tuple = ()


def schedule(func: str, *, job_id: str, at: datetime, args: tuple = ()) -> None:
    """Schedule `func(*args)` to run at `at` under `job_id`, once the current transaction commits.

    Outside a transaction it is written at once. If Redis cannot be reached the error is logged
    and swallowed: the database still holds the pending event, and `reconcile_events` enqueues it.
    """
    schedule_many([PendingEvent(func, job_id, at, args)])


def schedule_many(events: Sequence[PendingEvent]) -> None:
    """schedule() for many events: written together (one round trip) once the transaction commits."""
    if events:
        transaction.on_commit(partial(_put_after_commit, list(events)), robust=True)


def _put_after_commit(events: list[PendingEvent]) -> None:
    """The events are in the database: Redis is only told, unless the breaker is open."""
    if not breaker.allows():
        return  # Redis failed moments ago: reconciliation writes these events
    try:
        put_many(events)
    except RedisError as error:
        breaker.trip(error)
    else:
        breaker.ok()


class Breaker:
    """A circuit breaker on Redis for the web (and anything that must answer rather than wait).

    After a call fails (a hung Redis costs one socket timeout), `allows()` says no for
    REDIS_BREAKER_SECONDS, then yes again: one call tries Redis, and its failure opens the breaker
    anew. Each process has its own; it logs once per outage, not once per call.
    """

    def __init__(self) -> None:
        self._open_until = 0.0
        self._lock = threading.Lock()
        self._down = False

    def allows(self) -> bool:
        return time.monotonic() >= self._open_until

    def trip(self, error: BaseException) -> None:
        with self._lock:
            self._open_until = time.monotonic() + settings.REDIS_BREAKER_SECONDS
            first, self._down = not self._down, True
        if first:
            logger.warning(
                "Redis at %s does not answer (%s): not called for %g s at a time; new events wait for "
                "reconciliation",
                redis_location(),
                error.__class__.__name__,
                settings.REDIS_BREAKER_SECONDS,
            )

    def reset(self) -> None:
        """Closed, as at start (for tests: each process keeps one breaker for its life)."""
        with self._lock:
            self._down, self._open_until = False, 0.0

    def ok(self) -> None:
        if self._down:
            with self._lock:
                self._down, self._open_until = False, 0.0
            logger.warning("Redis at %s answers again", redis_location())


breaker = Breaker()


def redis_location() -> str:
    """Where the queue's Redis is, for log lines: REDIS_URL without its password."""
    config = settings.RQ_QUEUES[QUEUE_NAME]
    if "SENTINELS" in config:
        return f"sentinel master {config['MASTER_NAME']}"
    scheme = "rediss" if config.get("SSL") else "redis"
    return f"{scheme}://{config['HOST']}:{config['PORT']}/{config['DB']}"


def set_socket_timeout(connection: Redis, seconds: float) -> None:
    """Give a client's connections a longer deadline (workers and the scheduler block on Redis on
    purpose); connections already open are dropped and made again with it."""
    pool = connection.connection_pool
    pool.connection_kwargs["socket_timeout"] = seconds
    pool.connection_kwargs["socket_connect_timeout"] = seconds
    pool.disconnect()


def put(func: str, *, job_id: str, at: datetime, args: tuple = ()) -> bool:
    """Write the job to Redis now, unless a live job with this id exists. True if it was written."""
    return put_many([PendingEvent(func, job_id, at, args)])[0]


def put_many(events: Sequence[PendingEvent]) -> list[bool]:
    """put() for many events: one round trip (a pipeline of one script call per PUT_CHUNK events).
    Per event, True if it was written."""
    queue = get_queue()
    keys = [
        queue.key,
        queue.scheduled_job_registry.key,
        queue.failed_job_registry.key,
        queue.finished_job_registry.key,
        Queue.redis_queues_keys,
        WAKE_CHANNEL,
    ]
    retry = Retry(max=len(settings.GAME_EVENT_RETRY_DELAYS), interval=settings.GAME_EVENT_RETRY_DELAYS)
    enqueued_at = datetime.now(UTC)
    now = enqueued_at.timestamp()
    shared = [queue.key, rq_compat.live_statuses_arg(), rq_compat.QUEUED, rq_compat.SCHEDULED, now]
    calls = []
    for start in range(0, len(events), PUT_CHUNK):
        args = list(shared)
        for event in events[start : start + PUT_CHUNK]:
            job = queue.create_job(
                event.func,
                args=event.args,
                job_id=event.job_id,
                description=event.job_id,  # not stored (rq_compat.lean_job_fields); RQ would compute one
                retry=retry,
                result_ttl=settings.GAME_EVENT_RESULT_TTL,
                failure_ttl=None,
                meta={"due": event.at.timestamp()},  # the worker measures lateness against it
            )
            job.origin = queue.name
            job.enqueued_at = enqueued_at
            fields = rq_compat.lean_job_fields(job, queued_now=event.at.timestamp() <= now)
            args += [job.key, job.id, event.at.timestamp(), len(fields), *fields]
        calls.append((keys, args))
    script = _script(queue.connection, _PUT_SCRIPT)
    return [bool(created) for answer in _pipelined(queue.connection, script, calls) for created in answer]


def _pipelined(connection: Redis, script: Script, calls: list[tuple[list, list]]) -> list:
    """Run `script` once per (keys, args) in one pipeline: one round trip. redis-py's own way
    (script(client=pipeline)) asks Redis SCRIPT EXISTS before each pipeline, a second round trip;
    here the EVALSHAs go alone, and should Redis not hold the script (the first call of a process,
    a restarted Redis), none of them ran: it is loaded and the pipeline sent again."""
    try:
        return _evalsha_all(connection, script, calls)
    except NoScriptError:
        connection.script_load(script.script)
        return _evalsha_all(connection, script, calls)


def _evalsha_all(connection: Redis, script: Script, calls: list[tuple[list, list]]) -> list:
    pipe = connection.pipeline(transaction=False)
    for keys, args in calls:
        pipe.evalsha(script.sha, len(keys), *keys, *args)
    return pipe.execute()


_scripts: dict[tuple[int, str], Script] = {}


def _script(connection: Redis, source: str) -> Script:
    key = (id(connection), source)
    if key not in _scripts:
        _scripts[key] = connection.register_script(source)
    return _scripts[key]


def promote_due(connection: Redis | None = None) -> tuple[int, float | None]:
    """Move every scheduled job that is due (to the millisecond, never early) onto the queue.

    Returns how many it moved in this batch (PROMOTE_BATCH at most: call again while it is full)
    and the due time of the next scheduled job, if any.
    """
    queue = get_queue()
    connection = connection or queue.connection
    keys = [queue.scheduled_job_registry.key, queue.key]
    now = datetime.now(UTC)
    args = [now.timestamp(), PROMOTE_BATCH, rq_compat.JOB_PREFIX, utcformat(now), rq_compat.QUEUED]
    answer = _script(connection, _PROMOTE_SCRIPT)(keys=keys, args=args)
    # Lua's false becomes a nil: None, or no second element at all, when nothing is scheduled
    next_due = answer[1] if len(answer) > 1 else None
    return answer[0], float(next_due) if next_due is not None else None


class Wake:
    """A promoter's wait: until a timeout measured on this process's clock, or until put() publishes
    that a job is due sooner than the earliest one.

    A blocking command's server-side timeout (BLPOP k 0.2) ends on Redis's next tick: with the stock
    hz of 10 it returns up to 100 ms late. A subscription read with a client-side select() ends on
    time. The subscription is open before the first pass, so a wake-up published while the promoter
    is busy waits in the socket and ends its next wait at once: none is missed.
    """

    def __init__(self, connection: Redis) -> None:
        self.pubsub = connection.pubsub()
        self.pubsub.subscribe(WAKE_CHANNEL)
        # Confirmed before the first pass; otherwise a put() between that pass and the
        # subscription would not wake us (then only MAX_PROMOTER_SLEEP would).
        deadline = time.monotonic() + 5
        while self.pubsub.get_message(timeout=1.0) is None:
            if time.monotonic() > deadline:
                raise RedisError("no confirmation of the subscription to the wake-up channel")

    def wait(self, timeout: float) -> bool:
        """Sleep up to `timeout` seconds; True if woken by a wake-up (all pending ones are consumed)."""
        if timeout <= 0:
            return False
        if self.pubsub.get_message(timeout=timeout) is None:
            return False
        while self.pubsub.get_message(timeout=0) is not None:
            pass
        return True

    def close(self) -> None:
        with contextlib.suppress(RedisError):
            self.pubsub.close()


_marked: dict[str, float] = {}  # worker name -> when this process last marked its promoter live


def mark_promoter(connection: Redis, worker_name: str) -> None:
    """Note that this worker's promoter is making passes (at most once a second: it is in the loop)."""
    last = _marked.get(worker_name, 0.0)
    now_s = time.time()
    if now_s - last >= 1.0:
        connection.zadd(PROMOTERS_KEY, {worker_name: now_s})
        _marked[worker_name] = now_s


def unmark_promoter(connection: Redis, worker_name: str) -> None:
    connection.zrem(PROMOTERS_KEY, worker_name)
    _marked.pop(worker_name, None)


@dataclass(frozen=True)
class Overdue:
    """Delayed events past their due time, and the promoters that should be moving them."""

    count: int
    oldest_seconds: float  # 0.0 when none is overdue
    promoters: int  # live promoter threads (one per GameWorker not in burst mode)

    @property
    def stalled(self) -> bool:
        """Overdue past the grace: nobody moves them (or they cannot)."""
        return self.oldest_seconds > OVERDUE_GRACE

    def reason(self) -> str | None:
        if not self.stalled:
            return None
        late = f"{self.count} delayed event(s) overdue, the oldest by {self.oldest_seconds:.0f} s"
        if self.promoters == 0:
            return (
                f"{late}: no live game worker moves delayed events to the queue (a worker of another "
                f"class does not); start one: python manage.py rqworker {QUEUE_NAME}"
            )
        return (
            f"{late}, although {self.promoters} worker(s) move delayed events: their clocks may be "
            "behind, or they cannot reach Redis"
        )


def overdue(connection: Redis | None = None) -> Overdue:
    """How overdue the scheduled registry is, and how many promoters are live (one round trip)."""
    queue = get_queue()
    connection = connection or queue.connection
    now_s = time.time()
    pipe = connection.pipeline(transaction=False)
    pipe.zrange(queue.scheduled_job_registry.key, 0, 0, withscores=True)
    pipe.zcount(queue.scheduled_job_registry.key, "-inf", now_s)
    pipe.zcount(PROMOTERS_KEY, now_s - PROMOTER_TTL, "+inf")
    pipe.zremrangebyscore(PROMOTERS_KEY, "-inf", now_s - 3600)  # workers gone for an hour
    first, count, promoters, _ = pipe.execute()
    oldest = max(0.0, now_s - first[0][1]) if first and count else 0.0
    return Overdue(count, oldest, promoters)


_last_stall_warning = 0.0
STALL_WARNING_EVERY = 60.0  # seconds between two warnings from one process


def warn_if_stalled(connection: Redis | None = None) -> Overdue:
    """Log a warning (once a minute at most) while delayed events are overdue and nobody moves them."""
    global _last_stall_warning
    late = overdue(connection)
    if late.stalled and time.monotonic() - _last_stall_warning >= STALL_WARNING_EVERY:
        _last_stall_warning = time.monotonic()
        logger.warning("%s", late.reason())
    return late


def recover_abandoned(*, dropped_by: str = "") -> int:
    """Hand back to the queue every started job whose worker is dead, and every job stranded
    between dequeue and start. Safe from any number of processes at once. Returns how many.

    A job is abandoned when its worker's liveness key has expired. Workers that keep no liveness
    key (not a GameWorker) are trusted as long as RQ's own worker key lives. Each hand-back counts
    as a crash of the job; past GAME_EVENT_MAX_HANDBACKS the job is quarantined instead.
    `dropped_by`: a live worker that lost Redis mid-job and runs nothing now: its started jobs are
    handed back too, without counting a crash.
    """
    queue = get_queue()
    connection = queue.connection
    recovered = 0
    failed_score = time.time() + DEFAULT_FAILURE_TTL
    statuses = [rq_compat.STARTED, rq_compat.QUEUED, rq_compat.FAILED]
    for member in connection.zrange(queue.started_job_registry.key, 0, -1):
        member = member.decode()
        job_id = rq_compat.job_id_of(member)
        keys = [
            queue.started_job_registry.key,
            Job.key_for(job_id),
            queue.key,
            rq_compat.execution_key(member),
            attempts_key(job_id),
            HOLD_KEY,
            queue.failed_job_registry.key,
            BREADCRUMB_PREFIX + job_id,
        ]
        args = [member, job_id, settings.GAME_EVENT_MAX_HANDBACKS, dropped_by, failed_score, utcformat(now())]
        args += [ATTEMPTS_TTL, rq_compat.WORKER_PREFIX, LIVENESS_PREFIX, *statuses]
        outcome = _script(connection, _REQUEUE_ABANDONED_SCRIPT)(keys=keys, args=args)
        if outcome[0] == 3:
            _blame(queue, job_id, outcome[1].decode(), outcome[2].decode().split(","))
        elif outcome[0]:
            worker = outcome[1].decode()
            _after_crash(queue, job_id, worker, quarantined=outcome[0] == 2, dropped=bool(dropped_by))
        recovered += outcome[0] in (1, 3)
    recovered += _recover_stranded(queue)
    return recovered


def _after_crash(queue: Queue, job_id: str, worker: str, *, quarantined: bool, dropped: bool) -> None:
    """Log and record a hand-back or a quarantine (the Lua above decided which)."""
    from galactic.events import attempts  # its models need the app registry, ready by now

    if dropped:
        logger.warning("requeued %s: its worker lost Redis mid-job", job_id)
        return
    if not quarantined:
        logger.warning("requeued %s: its worker died mid-job", job_id)
        attempts.record(job_id, "crashed", worker=worker, detail="its worker died mid-job; handed back")
        return
    attempts.record(job_id, "crashed", worker=worker, detail="its worker died mid-job; quarantined")
    _quarantine_crashed(queue, job_id)


def _blame(queue: Queue, job_id: str, worker: str, event_ids: list[str]) -> None:
    """The worker died while `job_id` applied other events: the crash is theirs (each has its own
    budget, counted under its own id); the job was handed back uncounted."""
    from galactic.events import attempts

    logger.warning(
        "requeued %s: its worker died applying %s, which the crash is counted against",
        job_id,
        ", ".join(event_ids),
    )
    for event_id in event_ids:
        crashes = attempts.count_crash(queue.connection, event_id)
        detail = f"its worker died applying it, within the run of {job_id}"
        attempts.record(event_id, "crashed", worker=worker, detail=detail)
        if crashes > settings.GAME_EVENT_MAX_HANDBACKS:
            attempts.mark_quarantined(queue.connection, event_id)
            _quarantine_crashed(queue, event_id)


def _quarantine_crashed(queue: Queue, job_id: str) -> None:
    """Record the quarantine of an event whose crashes spent its budget, with what its job (if
    Redis still has it) says of it: the function and arguments a release runs, the due time."""
    from galactic.events import attempts

    job = queue.fetch_job(job_id)
    due = job.meta.get("due") if job is not None else None
    attempts.quarantine(
        job_id,
        func=job.func_name if job is not None else "",
        args=job.args if job is not None else (),
        due=datetime.fromtimestamp(due, UTC) if due else None,
        reason=attempts.crash_reason(),
    )


def _recover_stranded(queue: Queue) -> int:
    connection = queue.connection
    intermediate = queue.intermediate_queue_key
    recovered = 0
    for job_id in connection.lrange(intermediate, 0, -1):
        job_id = job_id.decode()
        keys = [intermediate, Job.key_for(job_id), queue.key, f"gc:stranded:{job_id}"]
        args = [job_id, INTERMEDIATE_GRACE, utcformat(now()), rq_compat.QUEUED]
        if _script(connection, _REQUEUE_STRANDED_SCRIPT)(keys=keys, args=args):
            logger.warning("requeued %s: dequeued by a worker that died before starting it", job_id)
            recovered += 1
    return recovered


def job_status(job_id: str) -> str | None:
    """The RQ status of the job with this id, or None when Redis has no such job."""
    status = get_connection().hget(Job.key_for(job_id), "status")
    return status.decode() if status else None


def is_live(status: str | None) -> bool:
    return rq_compat.is_live(status)


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
    """Counts for game_events: waiting, active (started), delayed (scheduled), completed (events
    the workers finished, as counted in galactic.events.metrics), failed, and live workers."""
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
    pipe.hgetall(metrics.TOTALS)
    waiting, active, delayed, kept_finished, failed, totals = pipe.execute()
    # finished jobs are not kept by default (GAME_EVENT_RESULT_TTL=0): the workers count them
    completed = sum(int(v) for k, v in totals.items() if k.startswith(b"processed:")) or kept_finished
    return QueueStats(waiting, active, delayed, completed, failed, live_workers(queue))


def live_workers(queue: Queue) -> int:
    """Workers on the queue that are alive now. RQ's own count keeps a SIGKILLed worker for its
    whole TTL (minutes); a GameWorker is alive while its liveness key is."""
    connection = queue.connection
    keys = [key.decode() for key in connection.smembers(rq_compat.workers_of_queue_key(queue.name))]
    pipe = connection.pipeline(transaction=False)
    for key in keys:
        pipe.hget(key, "liveness")
        pipe.exists(liveness_key(rq_compat.worker_name_of(key)), key)
    answers = pipe.execute()
    alive = 0
    for keeps_liveness, existing in zip(answers[::2], answers[1::2], strict=True):
        # existing counts the liveness key and RQ's worker key: a GameWorker needs both
        alive += existing == 2 if keeps_liveness else existing >= 1
    return alive
