from django.contrib import admin

from galactic.models import Planet, Player


@admin.register(Player)
class PlayerAdmin(admin.ModelAdmin):
    list_display = ["user", "weapons", "shielding", "armour", "espionage"]
    search_fields = ["user__username"]
    exclude = ["token_hash"]  # a hash is of no use to read, and must not be edited by hand


@admin.register(Planet)
class PlanetAdmin(admin.ModelAdmin):
    list_display = ["name", "coords_text", "owner", "metal", "crystal", "deuterium", "resources_at"]
    list_filter = ["galaxy", ("owner", admin.EmptyFieldListFilter)]
    search_fields = ["name", "owner__user__username"]
    list_select_related = ["owner__user"]
    ordering = ["galaxy", "system", "position"]

    @admin.display(description="coords", ordering="galaxy")
    def coords_text(self, planet: Planet) -> str:
        return str(planet.coords)
