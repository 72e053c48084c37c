"""GET /health: is this box able to serve? Database, Redis, queue figures and live workers."""

from __future__ import annotations

import logging

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET
from redis.exceptions import RedisError

from galactic import queue

logger = logging.getLogger(__name__)


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        logger.warning("health: database check failed", exc_info=True)
        return False


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    database_ok = _database_ok()
    try:
        stats = queue.get_queue_stats()
        redis_ok = True
    except RedisError:
        logger.warning("health: Redis check failed", exc_info=True)
        stats, redis_ok = None, False
    ok = database_ok and redis_ok
    body = {
        "status": "ok" if ok else "error",
        "database": "ok" if database_ok else "error",
        "redis": "ok" if redis_ok else "error",
        "queues": {queue.QUEUE_NAME: stats.as_dict() if stats else None},
        "workers": stats.workers if stats else None,
    }
    return JsonResponse(body, status=200 if ok else 503)
