from django.contrib import admin

from fleets.models import Fleet


@admin.register(Fleet)
class FleetAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "mission", "status", "origin", "target", "arrive_at", "return_at"]
    list_filter = ["mission", "status"]
    search_fields = ["owner__user__username"]
    list_select_related = ["owner__user", "origin", "target"]
    date_hierarchy = "arrive_at"
    raw_id_fields = ["owner", "origin", "target", "report"]
