"""What the operator commands say when Redis is out of reach: one line naming where they looked.

A management command that talks to Redis (reconcile_events, rqstats, check_queue) would otherwise
end in a sixty-line traceback whose useful line is the last one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError
from redis.exceptions import RedisError


def redis_location() -> str:
    """The configured Redis of the queues, as an operator would write it (never the password)."""
    config = settings.RQ_QUEUES[settings.GAME_QUEUE]
    if "SENTINELS" in config:
        sentinels = ",".join(f"{host}:{port}" for host, port in config["SENTINELS"])
        return f"Sentinel master {config['MASTER_NAME']} via {sentinels}, db {config['DB']} (REDIS_SENTINELS)"
    scheme = "rediss" if config.get("SSL") else "redis"
    source = "REDIS_URL" if os.environ.get("REDIS_URL") or not os.environ.get("REDIS_HOST") else "REDIS_HOST"
    return f"{scheme}://{config['HOST']}:{config['PORT']}/{config['DB']} ({source})"


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
