"""Probe missions and notices in the Django admin: read-only (galactic.admin.ReadOnlyModelAdmin),
since only services change game state (an edited mission would break the invariants probe:update
relies on)."""

from __future__ import annotations

from django.contrib import admin

from galactic.admin import ReadOnlyModelAdmin
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
