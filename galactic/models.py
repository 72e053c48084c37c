"""The universe every mission shares: players and planets, with their stock, ships and defences."""

from __future__ import annotations

import hashlib
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q

from galactic.flight import Coords
from galactic.ships import DEFENCES, RESOURCES, SHIPS


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Player(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="player")
    # Only a hash of the API token is kept: a leaked database does not leak credentials.
    token_hash = models.CharField(max_length=64, unique=True)
    weapons = models.PositiveSmallIntegerField(default=0)
    shielding = models.PositiveSmallIntegerField(default=0)
    armour = models.PositiveSmallIntegerField(default=0)
    espionage = models.PositiveSmallIntegerField(default=0)

    def __str__(self) -> str:
        return self.user.username

    @property
    def technology(self) -> dict[str, int]:
        return {
            "weapons": self.weapons,
            "shielding": self.shielding,
            "armour": self.armour,
            "espionage": self.espionage,
        }


def _amount_field() -> models.BigIntegerField:
    return models.BigIntegerField(default=0)


class Planet(models.Model):
    """A planet: a player's, or the site of an NPC base (no owner, see combat.NpcBase).

    Stock is settled lazily: `metal`, `crystal` and `deuterium` are the amounts at `resources_at`;
    production per hour accrues from there. Ships and defences are one column per type so that the
    database itself refuses a negative count.
    """

    name = models.CharField(max_length=60)
    galaxy = models.PositiveSmallIntegerField()
    system = models.PositiveSmallIntegerField()
    position = models.PositiveSmallIntegerField()
    owner = models.ForeignKey(Player, null=True, blank=True, on_delete=models.CASCADE, related_name="planets")

    metal = _amount_field()
    crystal = _amount_field()
    deuterium = _amount_field()
    resources_at = models.DateTimeField()
    metal_per_hour = models.PositiveIntegerField(default=0)
    crystal_per_hour = models.PositiveIntegerField(default=0)
    deuterium_per_hour = models.PositiveIntegerField(default=0)

    light_fighter = _amount_field()
    heavy_fighter = _amount_field()
    cruiser = _amount_field()
    battleship = _amount_field()
    small_cargo = _amount_field()
    large_cargo = _amount_field()
    espionage_probe = _amount_field()
    rocket_launcher = _amount_field()
    light_laser = _amount_field()
    heavy_laser = _amount_field()

    # What events change on a planet: its stock (as of resources_at), ships and defences.
    STATE_FIELDS = (*RESOURCES, "resources_at", *SHIPS, *DEFENCES)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["galaxy", "system", "position"], name="planet_unique_coords"),
            models.CheckConstraint(
                condition=Q(galaxy__gte=1, galaxy__lte=9, system__gte=1, system__lte=499)
                & Q(position__gte=1, position__lte=15),
                name="planet_coords_in_universe",
            ),
            *(
                models.CheckConstraint(
                    condition=Q(**{f"{field}__gte": 0}), name=f"planet_{field}_not_negative"
                )
                for field in (*RESOURCES, *SHIPS, *DEFENCES)
            ),
        ]
        indexes = [models.Index(fields=["galaxy", "system"], name="planet_system")]

    def __str__(self) -> str:
        return f"{self.name} [{self.coords}]"

    @property
    def coords(self) -> Coords:
        return Coords(self.galaxy, self.system, self.position)

    @property
    def resources(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in RESOURCES}

    @property
    def production(self) -> dict[str, int]:
        return {name: getattr(self, f"{name}_per_hour") for name in RESOURCES}

    @property
    def ships(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in SHIPS}

    @property
    def defences(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in DEFENCES}

    def resources_as_of(self, at: datetime) -> dict[str, int]:
        """Stock at `at` without changing the row (a read for the API; services call settle())."""
        seconds = max(0.0, (at - self.resources_at).total_seconds())
        return {
            name: getattr(self, name) + int(getattr(self, f"{name}_per_hour") * seconds // 3600)
            for name in RESOURCES
        }

    def settle(self, at: datetime) -> None:
        """Bring the stock up to `at` (an event's own time, so a late job gives the same result).

        Only on a locked row. An event older than the last settlement adds nothing: time never
        runs backwards for a planet.
        """
        if at <= self.resources_at:
            return
        for name, amount in self.resources_as_of(at).items():
            setattr(self, name, amount)
        self.resources_at = at

    def add(self, amounts: dict[str, int], sign: int = 1) -> None:
        """Add (or with sign=-1 take) resources, ships or defences by name, on a locked row."""
        for name, amount in amounts.items():
            setattr(self, name, getattr(self, name) + sign * amount)
