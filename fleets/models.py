"""Fleets in flight: from dispatch to landing (or destruction)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from combat.models import Report
from galactic.models import Planet, Player


class Fleet(models.Model):
    class Mission(models.TextChoices):
        ATTACK = "attack"
        TRANSPORT = "transport"

    class Status(models.TextChoices):
        OUTBOUND = "outbound"
        RETURNING = "returning"
        COMPLETED = "completed"
        DESTROYED = "destroyed"

    owner = models.ForeignKey(Player, on_delete=models.CASCADE, related_name="fleets")
    mission = models.CharField(max_length=10, choices=Mission.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OUTBOUND)
    origin = models.ForeignKey(Planet, on_delete=models.CASCADE, related_name="fleets_out")
    target = models.ForeignKey(Planet, on_delete=models.CASCADE, related_name="fleets_in")
    ships = models.JSONField()  # type -> count; after the battle, the survivors
    metal = models.BigIntegerField(default=0)
    crystal = models.BigIntegerField(default=0)
    deuterium = models.BigIntegerField(default=0)
    fuel = models.BigIntegerField()
    speed = models.PositiveSmallIntegerField()
    depart_at = models.DateTimeField()
    arrive_at = models.DateTimeField()
    return_at = models.DateTimeField()
    report = models.OneToOneField(
        Report, null=True, blank=True, on_delete=models.SET_NULL, related_name="fleet"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(metal__gte=0, crystal__gte=0, deuterium__gte=0, fuel__gte=1),
                name="fleet_amounts_valid",
            ),
            models.CheckConstraint(
                condition=~Q(origin=models.F("target")), name="fleet_origin_is_not_target"
            ),
            models.CheckConstraint(
                condition=Q(depart_at__lte=models.F("arrive_at"), arrive_at__lte=models.F("return_at")),
                name="fleet_times_in_order",
            ),
        ]
        indexes = [
            # Reconciliation scans the pending fleets by status and due time.
            models.Index(fields=["status", "arrive_at"], name="fleet_pending"),
            models.Index(fields=["owner", "-id"], name="fleet_owner_newest"),
        ]

    def __str__(self) -> str:
        return f"fleet #{self.pk} ({self.mission}, {self.status})"

    @property
    def cargo(self) -> dict[str, int]:
        return {"metal": self.metal, "crystal": self.crystal, "deuterium": self.deuterium}
