"""What the operator commands say when Redis is out of reach: one line naming where they looked.

A management command that talks to Redis (reconcile_events, rqstats, check_queue) would otherwise
end in a sixty-line traceback whose useful line is the last one.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from itertools import islice
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError
from redis.exceptions import RedisError

from galactic.events import rq_compat


def redis_location() -> str:
    """The configured Redis of the queues, as an operator would write it (never the password)."""
    config = settings.RQ_QUEUES[settings.GAME_QUEUE]
    if "SENTINELS" in config:
        sentinels = ",".join(f"{host}:{port}" for host, port in config["SENTINELS"])
        return f"Sentinel master {config['MASTER_NAME']} via {sentinels}, db {config['DB']} (REDIS_SENTINELS)"
    scheme = "rediss" if config.get("SSL") else "redis"
    if settings_env("REDIS_URL"):
        source = "REDIS_URL"
    elif settings_env("REDIS_HOST"):
        source = "REDIS_HOST"
    else:
        source = "the default: REDIS_URL is not set"
    return f"{scheme}://{config['HOST']}:{config['PORT']}/{config['DB']} ({source})"


def settings_env(name: str) -> str:
    """A variable as the settings read it: the environment, else .env beside manage.py."""
    from galactic.settings import env

    return env.str(name, default="")


def redis_problem(exc: BaseException) -> str:
    """One line: where Redis was expected and what it answered."""
    reason = " ".join(str(exc).split()) or exc.__class__.__name__
    return f"Redis does not answer at {redis_location()}: {reason}"


def one_line_redis_errors(handle: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a command's handle(): a RedisError becomes a CommandError, which Django prints as one
    line on stderr with exit status 1 (the traceback stays available with --traceback)."""

    @wraps(handle)
    def wrapper(self: object, *args: object, **options: object) -> Any:
        try:
            return handle(self, *args, **options)
        except RedisError as exc:
            raise CommandError(redis_problem(exc)) from exc

    return wrapper


GAME_KEYS = (rq_compat.NAMESPACE.encode(), b"gc:")  # RQ's keys and the game's own
SCAN_LIMIT = 10_000  # keys looked at: enough to notice a neighbour, quick on a large queue


def startup_summary() -> str:
    """What `make run` says before it starts: the database and the Redis the game uses, and a
    warning when that Redis database holds keys that are not the game's (another program's)."""
    from django.db import connection

    from galactic.events import queue

    db = connection.settings_dict
    where = db["NAME"] if connection.vendor == "sqlite" else f"{db['HOST']}:{db['PORT']}/{db['NAME']}"
    lines = [f"==> database: {connection.vendor} {where} (DATABASE_URL)", f"==> Redis: {redis_location()}"]
    try:
        keys = islice(queue.get_connection().scan_iter(count=1000), SCAN_LIMIT)
        others = sum(1 for key in keys if not key.startswith(GAME_KEYS))
    except RedisError as exc:
        return "\n".join([*lines, f"warning: {redis_problem(exc)}"])
    if others:
        lines.append(
            f"warning: this Redis database also holds {others} keys that are not the game's (another "
            "program's?); give the game a database of its own: REDIS_URL=redis://host:port/<index>"
        )
    return "\n".join(lines)
