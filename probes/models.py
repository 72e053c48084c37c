"""Probe missions in flight, and the notices a discovered spy leaves with the planet's owner."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from combat.models import Report
from galactic.models import Planet, Player


class ProbeMission(models.Model):
    """Espionage probes on their way out, on their way back, landed or shot down.

    No job per mission: the periodic probe:update picks up every mission that is due (see
    probes.services.probe_missions_advance), hence the two (status, due time) indexes.
    """

    class Status(models.TextChoices):
        OUTBOUND = "outbound"
        RETURNING = "returning"
        COMPLETED = "completed"
        DESTROYED = "destroyed"

    owner = models.ForeignKey(Player, on_delete=models.CASCADE, related_name="probe_missions")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OUTBOUND)
    origin = models.ForeignKey(Planet, on_delete=models.CASCADE, related_name="probe_missions_out")
    target = models.ForeignKey(Planet, on_delete=models.CASCADE, related_name="probe_missions_in")
    count = models.BigIntegerField(help_text="probes still alive")
    launched = models.BigIntegerField(help_text="probes sent")
    fuel = models.BigIntegerField()
    speed = models.PositiveSmallIntegerField()
    depart_at = models.DateTimeField()
    arrive_at = models.DateTimeField()
    return_at = models.DateTimeField()
    discovered = models.BooleanField(null=True, blank=True, help_text="null before the arrival")
    discovery_chance = models.PositiveSmallIntegerField(null=True, blank=True)
    report = models.OneToOneField(
        Report, null=True, blank=True, on_delete=models.SET_NULL, related_name="probe_mission"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(count__gte=0, count__lte=F("launched"), launched__gte=1),
                name="probe_count_valid",
            ),
            models.CheckConstraint(condition=Q(fuel__gte=1), name="probe_fuel_at_least_1"),
            models.CheckConstraint(condition=~Q(origin=F("target")), name="probe_origin_is_not_target"),
            models.CheckConstraint(
                condition=Q(depart_at__lte=F("arrive_at"), arrive_at__lte=F("return_at")),
                name="probe_times_in_order",
            ),
            models.CheckConstraint(
                condition=Q(discovery_chance__isnull=True)
                | Q(discovery_chance__gte=0, discovery_chance__lte=100),
                name="probe_discovery_chance_percent",
            ),
        ]
        indexes = [
            # probe:update scans the due missions: arrivals, then returns.
            models.Index(fields=["status", "arrive_at"], name="probe_due_arrival"),
            models.Index(fields=["status", "return_at"], name="probe_due_return"),
            models.Index(fields=["owner", "-id"], name="probe_owner_newest"),
        ]

    def __str__(self) -> str:
        return f"probe mission #{self.pk} ({self.count}/{self.launched} probes, {self.status})"


class Notice(models.Model):
    """Told to a planet's owner when probes spying on it were discovered (with the chance c)."""

    player = models.ForeignKey(Player, on_delete=models.CASCADE, related_name="probe_notices")
    at = models.DateTimeField()
    chance = models.PositiveSmallIntegerField()
    text = models.CharField(max_length=300)
    probe_mission = models.ForeignKey(ProbeMission, on_delete=models.CASCADE, related_name="notices")

    class Meta:
        constraints = [
            # One arrival, one notice: a second write for the same mission is a bug, not a retry.
            models.UniqueConstraint(fields=["probe_mission"], name="notice_one_per_probe_mission"),
            models.CheckConstraint(condition=Q(chance__lte=100), name="notice_chance_percent"),
        ]
        indexes = [models.Index(fields=["player", "-at"], name="notice_player_newest")]

    def __str__(self) -> str:
        return f"notice #{self.pk} for {self.player} at {self.at:%Y-%m-%d %H:%M}"
