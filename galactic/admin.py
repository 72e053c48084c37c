"""Players and planets in the admin, read-only, and the read-only base the other apps' admins use."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from galactic.models import Planet, Player


class ReadOnlyModelAdmin(admin.ModelAdmin):
    """For game models: only services change game state (an edited or deleted row would break the
    invariants the jobs rely on), so the admin shows them and offers actions that call services."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Player)
class PlayerAdmin(ReadOnlyModelAdmin):
    list_display = ["id", "user", "joined", "planet_count", "weapons", "shielding", "armour", "espionage"]
    list_filter = ["user__is_active", "user__date_joined"]
    search_fields = ["=id", "user__username"]
    list_select_related = ["user"]
    exclude = ["token_hash"]  # a hash is of no use to read
    ordering = ["-id"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Player]:
        return super().get_queryset(request).annotate(planet_count=Count("planets"))

    @admin.display(description="joined", ordering="user__date_joined")
    def joined(self, player: Player) -> object:
        return player.user.date_joined

    @admin.display(description="planets", ordering="planet_count")
    def planet_count(self, player: Player) -> int:
        return player.planet_count


@admin.register(Planet)
class PlanetAdmin(ReadOnlyModelAdmin):
    list_display = ["id", "name", "coords_text", "owner", "metal", "crystal", "deuterium", "resources_at"]
    # no owner: an NPC base (combat's admin lists them with their tier and state) or a free place
    list_filter = ["galaxy", ("owner", admin.EmptyFieldListFilter)]
    search_fields = ["=id", "name", "owner__user__username"]
    list_select_related = ["owner__user"]
    ordering = ["galaxy", "system", "position"]

    @admin.display(description="coords", ordering="galaxy")
    def coords_text(self, planet: Planet) -> str:
        return str(planet.coords)
