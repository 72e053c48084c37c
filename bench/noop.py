"""Plain job functions for the baselines: importable by stock `rq worker` and by GameWorker alike.

Nothing here knows Django or the game, so stock RQ runs them exactly as it would any user job.
"""

from __future__ import annotations

import os
import time

from rq import get_current_job

LATENESS_KEY = "bench:lateness"


def noop() -> None:
    """Does nothing: what a worker costs per job, without the job."""
    return None


def record(due: float) -> None:
    """Notes when this job started (first thing it does) next to when it was due, for bench.lateness."""
    started = time.time()
    job = get_current_job()
    job.connection.rpush(LATENESS_KEY, f"{due!r} {started!r} {job.id}")


# --- an event with an effect: a row committed in PostgreSQL ------------------------------------------

EFFECTS_KEY = "bench:effects"  # "<job id> <due> <started> <committed>" per run, in Redis
EFFECT_TABLE = "bench_effect"
_db = None
_redis = None


def _connections():
    """This process's own PostgreSQL and Redis connections (DATABASE_URL, REDIS_URL), opened once."""
    global _db, _redis
    if _db is None or _db.closed:
        import psycopg  # here: the plain no-op jobs above need neither

        _db = psycopg.connect(os.environ["DATABASE_URL"])
    if _redis is None:
        from redis import Redis

        _redis = Redis.from_url(os.environ["REDIS_URL"])
    return _db, _redis


def record_effect(event: str) -> str:
    """`event` is "<job id> <due epoch>": writes its row and commits, then notes in Redis when it
    started and when the commit returned, for bench.lateness (lateness = committed - due)."""
    return record_effects([event])[0]


def record_effects(events: list[str]) -> list[str]:
    """record_effect() for many events in one transaction, as a GameWorker batch runs them."""
    started = time.time()
    db, redis = _connections()
    rows = [(job_id, float(due), started) for job_id, due in (event.split() for event in events)]
    with db.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {EFFECT_TABLE} (job_id, due, started) VALUES (%s, %s, %s) "
            "ON CONFLICT (job_id) DO NOTHING",
            rows,
        )
    db.commit()
    committed = time.time()
    redis.rpush(EFFECTS_KEY, *(f"{job_id} {due!r} {started!r} {committed!r}" for job_id, due, _ in rows))
    return events
