"""Fleets in the admin: read-only (galactic.admin.ReadOnlyModelAdmin), with "send home" as an
action on the list and on the stuck-events page (both through fleets.services)."""

from __future__ import annotations

import re

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from combat.api import report_json
from fleets import schedules, services
from fleets.models import Fleet
from galactic.admin import ReadOnlyModelAdmin
from galactic.errors import GameError
from galactic.events import find


class OverdueFilter(admin.SimpleListFilter):
    """Fleets whose next event (arrival or return) is past its time: a worker should have run it."""

    title = "next event"
    parameter_name = "next_event"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("overdue", "overdue"), ("upcoming", "upcoming")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Fleet]) -> QuerySet[Fleet]:
        now = timezone.now()
        overdue = Q(status=Fleet.Status.OUTBOUND, arrive_at__lt=now) | Q(
            status=Fleet.Status.RETURNING, return_at__lt=now
        )
        pending = Q(status__in=(Fleet.Status.OUTBOUND, Fleet.Status.RETURNING))
        if self.value() == "overdue":
            return queryset.filter(overdue)
        if self.value() == "upcoming":
            return queryset.filter(pending & ~overdue)
        return queryset


@admin.register(Fleet)
class FleetAdmin(ReadOnlyModelAdmin):
    list_display = [
        "id",
        "owner",
        "mission",
        "status",
        "origin",
        "target",
        "ship_count",
        "depart_at",
        "arrive_at",
        "return_at",
    ]
    list_filter = ["status", "mission", OverdueFilter, "depart_at"]
    search_fields = ["=id", "owner__user__username", "origin__name", "target__name"]
    list_select_related = ["owner__user", "origin", "target"]
    date_hierarchy = "arrive_at"
    raw_id_fields = ["owner", "origin", "target", "report"]
    ordering = ["-id"]
    actions = ["send_home"]

    @admin.display(description="ships")
    def ship_count(self, fleet: Fleet) -> int:
        return sum(fleet.ships.values())

    @admin.action(description="Send home (outbound fleets turn around now)", permissions=["recall"])
    def send_home(self, request: HttpRequest, queryset: QuerySet[Fleet]) -> None:
        for fleet_id in queryset.order_by("pk").values_list("pk", flat=True):
            try:
                fleet = services.fleet_recall(fleet_id=fleet_id, player=None)
            except GameError as exc:
                self.message_user(request, f"fleet #{fleet_id}: {exc.detail}", messages.WARNING)
            else:
                lands = f"{fleet.return_at:%Y-%m-%d %H:%M:%S} UTC"
                self.message_user(
                    request, f"fleet #{fleet_id}: sent home, lands at {lands}", messages.SUCCESS
                )

    def has_recall_permission(self, request: HttpRequest) -> bool:
        # the admin is read-only; recalling is what "change fleet" means here
        return request.user.has_perm("fleets.change_fleet")


FLEET_JOB = re.compile(r"^fleet-(?:arrival|return)-(\d{1,18})$")
FOUND_PER_PLAYER = 20


def find_fleets(query: str) -> list[find.Found]:
    """For the admin's find-an-event page: the fleet with this id or job id (fleet-arrival-12), or
    the newest fleets of the player with this name."""
    fleets = Fleet.objects.select_related("report")
    if match := FLEET_JOB.match(query) or re.fullmatch(r"(\d{1,18})", query):
        fleets = fleets.filter(pk=int(match[1]))
    else:
        fleets = fleets.filter(owner__user__username=query).order_by("-id")[:FOUND_PER_PLAYER]
    return [
        find.Found(
            title=f"Fleet {fleet.pk}: {fleet.mission}, {fleet.status}",
            row=fleet,
            job_ids=(schedules.arrival_job_id(fleet.pk), schedules.return_job_id(fleet.pk)),
            report=fleet.report,
            report_data=report_json(fleet.report) if fleet.report else None,
        )
        for fleet in fleets
    ]
