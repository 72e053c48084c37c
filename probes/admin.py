"""Probe missions and notices in the Django admin: read-only (galactic.admin.ReadOnlyModelAdmin),
since only services change game state (an edited mission would break the invariants probe:update
relies on)."""

from __future__ import annotations

import re

from django.contrib import admin

from combat.api import report_json
from galactic.admin import ReadOnlyModelAdmin
from galactic.events import find
from probes.models import Notice, ProbeMission


@admin.register(ProbeMission)
class ProbeMissionAdmin(ReadOnlyModelAdmin):
    list_display = (
        "id",
        "owner",
        "origin",
        "target",
        "status",
        "count",
        "launched",
        "arrive_at",
        "return_at",
        "discovered",
        "discovery_chance",
    )
    list_filter = ("status", "discovered")
    search_fields = ("=id", "owner__user__username", "origin__name", "target__name")
    list_select_related = ("owner__user", "origin", "target")
    raw_id_fields = ("owner", "origin", "target", "report")
    date_hierarchy = "arrive_at"
    ordering = ("-id",)


@admin.register(Notice)
class NoticeAdmin(ReadOnlyModelAdmin):
    list_display = ("id", "player", "at", "chance", "probe_mission", "text")
    list_filter = ("chance", "at")
    search_fields = ("player__user__username", "text", "=probe_mission__id")
    list_select_related = ("player__user", "probe_mission")
    raw_id_fields = ("player", "probe_mission")
    date_hierarchy = "at"
    ordering = ("-at", "-id")


FOUND_PER_PLAYER = 20


def find_probe_missions(query: str) -> list[find.Found]:
    """For the admin's find-an-event page: the probe mission with this id, or the newest missions
    of the player with this name. Their events are carried by the periodic probe-update job."""
    missions = ProbeMission.objects.select_related("report")
    if re.fullmatch(r"\d{1,18}", query):
        missions = missions.filter(pk=int(query))
    else:
        missions = missions.filter(owner__user__username=query).order_by("-id")[:FOUND_PER_PLAYER]
    pending = (ProbeMission.Status.OUTBOUND, ProbeMission.Status.RETURNING)
    return [
        find.Found(
            title=f"Probe mission {mission.pk}: {mission.status}",
            row=mission,
            job_ids=("probe-update",) if mission.status in pending else (),
            report=mission.report,
            report_data=report_json(mission.report) if mission.report else None,
        )
        for mission in missions
    ]
