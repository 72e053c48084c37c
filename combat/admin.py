"""NPC bases and reports in the admin: read-only (galactic.admin.ReadOnlyModelAdmin)."""

from __future__ import annotations

from django.contrib import admin

from combat.models import NpcBase, Report
from galactic.admin import ReadOnlyModelAdmin


@admin.register(NpcBase)
class NpcBaseAdmin(ReadOnlyModelAdmin):
    list_display = ["id", "planet", "coords_text", "tier", "state", "defeated_at", "respawn_at"]
    list_filter = ["state", "tier", "planet__galaxy"]
    search_fields = ["=id", "=planet__id", "planet__name"]
    list_select_related = ["planet"]
    ordering = ["planet__galaxy", "planet__system", "planet__position"]

    @admin.display(description="coords", ordering="planet__galaxy")
    def coords_text(self, npc: NpcBase) -> str:
        return str(npc.planet.coords)


@admin.register(Report)
class ReportAdmin(ReadOnlyModelAdmin):
    list_display = ["id", "kind", "at", "attacker", "defender", "target", "outcome"]
    list_filter = ["kind", "at"]
    search_fields = ["=id", "attacker__user__username", "defender__user__username", "target__name"]
    list_select_related = ["attacker__user", "defender__user", "target"]
    date_hierarchy = "at"
    raw_id_fields = ["attacker", "defender", "target"]
    ordering = ["-at", "-id"]

    @admin.display(description="outcome")
    def outcome(self, report: Report) -> str:
        return report.data.get("outcome", "-")  # battles only
