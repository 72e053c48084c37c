"""The admin site, with the game_events queue figures on its index page."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from redis.exceptions import RedisError

from galactic import metrics, queue


class GameAdminSite(admin.AdminSite):
    site_header = "Galactic Conquest"
    site_title = "Galactic Conquest admin"
    index_template = "admin/game_index.html"

    def index(self, request: HttpRequest, extra_context: dict | None = None):
        try:
            stats = queue.get_queue_stats()
            recent = metrics.recent(queue.get_connection(), minutes=5)
            figures = {
                **stats.as_dict(),
                "workers": stats.workers,
                "events / min (5 min)": recent.events_per_minute,
                "lateness p50 (ms)": _ms(recent.lateness_p50_ms),
                "lateness p99 (ms)": _ms(recent.lateness_p99_ms),
            }
            error = None
        except RedisError as exc:
            figures, error = None, f"Redis does not answer: {exc.__class__.__name__}"
        context = {"queue_name": queue.QUEUE_NAME, "queue_figures": figures, "queue_error": error}
        return super().index(request, {**context, **(extra_context or {})})


def _ms(value: float | None) -> str:
    """Bucket bounds: '<= 10' reads as 'at most 10 ms'."""
    return "-" if value is None else f"<= {value:g}"
