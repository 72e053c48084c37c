from django.contrib import admin

from combat.models import NpcBase, Report


@admin.register(NpcBase)
class NpcBaseAdmin(admin.ModelAdmin):
    list_display = ["id", "planet", "tier", "state", "defeated_at", "respawn_at"]
    list_filter = ["tier", "state"]
    list_select_related = ["planet"]


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "at", "attacker", "defender", "target"]
    list_filter = ["kind"]
    search_fields = ["attacker__user__username", "defender__user__username"]
    list_select_related = ["attacker__user", "defender__user", "target"]
    date_hierarchy = "at"
    raw_id_fields = ["attacker", "defender", "target"]
