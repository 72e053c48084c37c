"""The universe every mission shares: players and planets, with their stock, ships and defences."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

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


# Production is counted in exact integers: a rate per hour times microseconds gives amounts in
# 1/3,600,000,000 of a unit, so no settlement ever rounds anything away.
FRACTIONS_PER_UNIT = 3_600_000_000
ONE_MICROSECOND = timedelta(microseconds=1)


def _fraction_field() -> models.BigIntegerField:
    return models.BigIntegerField(
        default=0, help_text=f"production not yet a whole unit, in 1/{FRACTIONS_PER_UNIT:,} of a unit"
    )


class Planet(models.Model):
    """A planet: a player's, or the site of an NPC base (no owner, see combat.NpcBase).

    Stock is settled lazily: `metal`, `crystal` and `deuterium` are the whole amounts at
    `resources_at`, and `*_fraction` what was produced towards the next unit; production per hour
    accrues from there, exactly, whatever the number of settlements. Ships and defences are one
    column per type so that the database itself refuses a negative count.
    """

    name = models.CharField(max_length=60)
    galaxy = models.PositiveSmallIntegerField()
    system = models.PositiveSmallIntegerField()
    position = models.PositiveSmallIntegerField()
    owner = models.ForeignKey(Player, null=True, blank=True, on_delete=models.CASCADE, related_name="planets")

    metal = _amount_field()
    crystal = _amount_field()
    deuterium = _amount_field()
    metal_fraction = _fraction_field()
    crystal_fraction = _fraction_field()
    deuterium_fraction = _fraction_field()
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
    FRACTION_FIELDS = tuple(f"{name}_fraction" for name in RESOURCES)
    STATE_FIELDS = (*RESOURCES, *FRACTION_FIELDS, "resources_at", *SHIPS, *DEFENCES)

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
            *(
                models.CheckConstraint(
                    condition=Q(**{f"{name}_fraction__gte": 0, f"{name}_fraction__lt": FRACTIONS_PER_UNIT}),
                    name=f"planet_{name}_fraction_below_one_unit",
                )
                for name in RESOURCES
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

    def _accrued(self, at: datetime) -> dict[str, tuple[int, int]]:
        """Per resource, (stock, fraction) at `at`: the production since `resources_at`, to the
        microsecond, with what falls short of a unit carried in the fraction."""
        micros = max(0, (at - self.resources_at) // ONE_MICROSECOND)
        accrued = {}
        for name in RESOURCES:
            produced = getattr(self, f"{name}_fraction") + getattr(self, f"{name}_per_hour") * micros
            whole, fraction = divmod(produced, FRACTIONS_PER_UNIT)
            accrued[name] = (getattr(self, name) + whole, fraction)
        return accrued

    def resources_as_of(self, at: datetime) -> dict[str, int]:
        """Stock at `at` without changing the row (a read for the API; services call settle())."""
        return {name: stock for name, (stock, _) in self._accrued(at).items()}

    def settle(self, at: datetime) -> None:
        """Bring the stock up to `at` (an event's own time, so a late job gives the same result).

        Exact: the fraction of a unit produced so far is kept, so settling at t1 then t2 gives the
        same stock as settling at t2 alone, to the unit. Only on a locked row. An event older than
        the last settlement adds nothing: time never runs backwards for a planet (galactic.timeline
        applies a planet's events in their time order, so this does not happen in play).
        """
        if at <= self.resources_at:
            return
        for name, (stock, fraction) in self._accrued(at).items():
            setattr(self, name, stock)
            setattr(self, f"{name}_fraction", fraction)
        self.resources_at = at

    def add(self, amounts: dict[str, int], sign: int = 1) -> None:
        """Add (or with sign=-1 take) resources, ships or defences by name, on a locked row."""
        for name, amount in amounts.items():
            setattr(self, name, getattr(self, name) + sign * amount)
