"""Monitoring endpoints: GET /health (can this box serve?) and GET /metrics (Prometheus)."""

from __future__ import annotations

import hmac
import logging

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from redis.exceptions import RedisError

from galactic.events import attempts, metrics, queue

logger = logging.getLogger(__name__)

REDIS_UP = "# TYPE game_events_redis_up gauge\ngame_events_redis_up {}\n"


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        logger.warning("health: database check failed", exc_info=True)
        return False


def _quarantined() -> int | None:
    try:
        return attempts.quarantined_count()
    except DatabaseError:
        return None


def _queue_stats() -> tuple[queue.QueueStats | None, queue.Overdue | None]:
    """The queue figures and the overdue events, or Nones when Redis does not answer (within one
    socket timeout; at once while the breaker is open after a failure)."""
    if not queue.breaker.allows():
        return None, None
    try:
        stats, late = queue.get_queue_stats(), queue.overdue()
    except RedisError as error:
        queue.breaker.trip(error)
        return None, None
    queue.breaker.ok()
    return stats, late


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """200 when the database and Redis answer, else 503 (within a second). Quarantined events are
    reported, but do not make the box unhealthy: they wait for an operator, not for a restart."""
    database_ok = _database_ok()
    stats, late = _queue_stats()
    redis_ok = stats is not None
    # Events that nobody moves are an outage of the game even while web, database and Redis answer.
    ok = database_ok and redis_ok and not (late and late.stalled)
    body = {
        "status": "ok" if ok else "error",
        "database": "ok" if database_ok else "error",
        "redis": "ok" if redis_ok else "error",
        "queues": {queue.QUEUE_NAME: stats.as_dict() if stats else None},
        "workers": stats.workers if stats else None,
        "quarantined": _quarantined() if database_ok else None,
    }
    if late is not None and late.stalled:  # the failing part named, as for the database and Redis
        body["reason"] = late.reason()
    return JsonResponse(body, status=200 if ok else 503)


def _may_read_metrics(request: HttpRequest) -> bool:
    if request.user.is_authenticated and request.user.is_staff:
        return True
    token = settings.METRICS_TOKEN
    offered = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return bool(token) and hmac.compare_digest(offered.encode(), token.encode())


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Game event counters and the lateness histogram, plus the queue gauges, for Prometheus.
    Staff only, or `Authorization: Bearer <METRICS_TOKEN>` for the scraper."""
    if not _may_read_metrics(request):
        return JsonResponse(
            {"error": "forbidden", "detail": "staff or the metrics token only", "fields": {}}, status=403
        )
    try:
        if not queue.breaker.allows():  # Redis failed moments ago: answer at once
            raise RedisError("the circuit breaker is open")
        stats = queue.get_queue_stats()
        body = metrics.prometheus_text(queue.get_connection())
        late = queue.overdue()
    except RedisError as error:
        # the figures live in Redis: say that it is down, as a gauge an alert can watch
        queue.breaker.trip(error)
        return HttpResponse(REDIS_UP.format(0), content_type="text/plain; version=0.0.4")
    gauges = [f'game_events_jobs{{state="{state}"}} {count}' for state, count in stats.as_dict().items()]
    body += REDIS_UP.format(1)
    body += "# TYPE game_events_jobs gauge\n" + "\n".join(gauges) + "\n"
    body += f"# TYPE game_events_workers gauge\ngame_events_workers {stats.workers}\n"
    body += (
        "# HELP game_events_oldest_overdue_seconds How long the oldest delayed event is past its due time\n"
        f"# TYPE game_events_oldest_overdue_seconds gauge\ngame_events_oldest_overdue_seconds "
        f"{late.oldest_seconds:.3f}\n"
        "# HELP game_events_promoters Workers whose promoter moves delayed events to the queue\n"
        f"# TYPE game_events_promoters gauge\ngame_events_promoters {late.promoters}\n"
    )
    body += f"# TYPE game_events_quarantined gauge\ngame_events_quarantined {attempts.quarantined_count()}\n"
    return HttpResponse(body, content_type="text/plain; version=0.0.4")
