"""The admin site, with the game_events queue figures on its index page and the stuck-events page."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path, reverse
from django.utils.http import urlencode
from redis.exceptions import RedisError

from galactic.events import bulk, find, metrics, queue, stuck


class GameAdminSite(admin.AdminSite):
    site_header = "Galactic Conquest"
    site_title = "Galactic Conquest admin"
    index_template = "admin/game_index.html"

    def get_urls(self) -> list[URLPattern | URLResolver]:
        # admin_view: staff only (others go to the login page), CSRF-protected, never cached
        own = [
            path("stuck-events/", self.admin_view(self.stuck_events_view), name="stuck_events"),
            path("find-event/", self.admin_view(self.find_event_view), name="find_event"),
        ]
        return own + super().get_urls()

    def index(self, request: HttpRequest, extra_context: dict | None = None):
        try:
            panel, error = queue_panel(), None
        except RedisError as exc:
            panel, error = None, f"Redis does not answer: {exc.__class__.__name__}"
        context = {"queue_name": queue.QUEUE_NAME, "queue_panel": panel, "queue_error": error}
        return super().index(request, {**context, **(extra_context or {})})

    def stuck_events_view(self, request: HttpRequest) -> HttpResponse:
        """GET: the pending events overdue by more than STUCK_EVENT_SECONDS. POST: one action on one
        of them (galactic.events.stuck.act), then back here with what happened as a message."""
        if request.method == "POST":
            outcome = stuck.act(
                request.POST.get("action", ""), request.POST.get("job_id", ""), by=request.user.get_username()
            )
            messages.add_message(request, outcome.level, outcome.text)
            return redirect("admin:stuck_events")
        context = {
            **self.each_context(request),
            "title": "Stuck events",
            "stuck": stuck.stuck_events(),
            "delayed": _overdue_or_none(),
            "grace": f"{queue.OVERDUE_GRACE:g}",
        }
        return TemplateResponse(request, "admin/stuck_events.html", context)

    def find_event_view(self, request: HttpRequest) -> HttpResponse:
        """GET ?q=: what a job id, an object's id or a player's name names (galactic.events.find).
        POST: a stuck-events action on one job, or "requeue all" on the failed events."""
        query = (request.POST if request.method == "POST" else request.GET).get("q", "")
        if request.method == "POST":
            by, action = request.user.get_username(), request.POST.get("action", "")
            if action == "requeue-all":
                outcome = bulk.requeue_all(request.POST.get("source", ""), by=by)
            else:
                outcome = stuck.act(action, request.POST.get("job_id", ""), by=by)
            messages.add_message(request, outcome.level, outcome.text)
            return redirect(reverse("admin:find_event") + "?" + urlencode({"q": query}))
        try:
            given_up = bulk.counts()
        except RedisError:
            given_up = {}
        context = {
            **self.each_context(request),
            "title": "Find an event",
            "result": find.find(query),
            "given_up": given_up,
        }
        return TemplateResponse(request, "admin/find_event.html", context)


def _overdue_or_none() -> queue.Overdue | None:
    """Whether delayed events are moved on time, or None when Redis does not answer."""
    try:
        return queue.overdue()
    except RedisError:
        return None


@dataclass(frozen=True)
class Figure:
    label: str
    value: str
    hint: str
    alert: bool = False


@dataclass(frozen=True)
class KindRow:
    label: str
    title: str
    figures: metrics.KindFigures

    @property
    def p50(self) -> str:
        return _ms(self.figures.lateness_p50_ms)

    @property
    def p99(self) -> str:
        return _ms(self.figures.lateness_p99_ms)

    @property
    def max(self) -> str:
        return _ms(self.figures.lateness_max_ms)


def queue_panel() -> dict:
    """What the admin index shows of game_events: the queue now, and the last 5 minutes per kind."""
    stats = queue.get_queue_stats()
    late = queue.overdue()
    recent = metrics.recent(queue.get_connection(), minutes=5)
    now = [
        Figure("waiting", str(stats.waiting), "due, queued for a worker"),
        Figure("running", str(stats.active), "started by a worker"),
        Figure("delayed", str(stats.delayed), "scheduled for later"),
        Figure("completed", str(stats.completed), "run since the counters began"),
        Figure("failed", str(stats.failed), "in the failed registry", alert=stats.failed > 0),
        Figure("workers", str(stats.workers), "live", alert=stats.workers == 0),
        Figure("oldest overdue", f"{late.oldest_seconds:.1f} s", "delayed, past due", alert=late.stalled),
    ]
    kinds = [
        KindRow("game events", "fleet arrivals and returns, NPC respawns...", recent.kinds["game"]),
        KindRow("periodic jobs", ", ".join(_periodic_ids()) + ": late by design", recent.kinds["periodic"]),
    ]
    return {"now": now, "kinds": kinds, "minutes": recent.minutes, "diagnosis": late.reason()}


def _periodic_ids() -> list[str]:
    return [job_id for job_id, _, _ in settings.GAME_PERIODIC_JOBS]


def _ms(value: float | None) -> str:
    """Milliseconds as read from the samples; a dash when nothing ran."""
    if value is None:
        return "-"
    return f"{value:.1f} ms" if value < 1000 else f"{value / 1000:.2f} s"
