"""NPC bases and the reports every arrival writes."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from galactic.models import Planet, Player


class NpcBase(models.Model):
    """An NPC base sits on an ownerless planet; its ships, defences and stock are the planet's."""

    class State(models.TextChoices):
        ACTIVE = "active"
        DEFEATED = "defeated"

    planet = models.OneToOneField(Planet, on_delete=models.CASCADE, related_name="npc")
    tier = models.PositiveSmallIntegerField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.ACTIVE)
    defeated_at = models.DateTimeField(null=True, blank=True)
    respawn_at = models.DateTimeField(null=True, blank=True)
    weapons = models.PositiveSmallIntegerField(default=0)
    shielding = models.PositiveSmallIntegerField(default=0)
    armour = models.PositiveSmallIntegerField(default=0)
    espionage = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = "NPC base"
        constraints = [
            models.CheckConstraint(condition=Q(tier__gte=1, tier__lte=3), name="npc_tier_1_to_3"),
            models.CheckConstraint(
                condition=Q(state="active") | Q(respawn_at__isnull=False),
                name="npc_defeated_has_respawn_time",
            ),
        ]
        indexes = [models.Index(fields=["state", "respawn_at"], name="npc_pending_respawn")]

    def __str__(self) -> str:
        return f"NPC tier {self.tier} at {self.planet.coords}"

    @property
    def technology(self) -> dict[str, int]:
        return {
            "weapons": self.weapons,
            "shielding": self.shielding,
            "armour": self.armour,
            "espionage": self.espionage,
        }


class Report(models.Model):
    """What happened at an arrival. `data` holds the kind's fields (see CONTRACT.md)."""

    class Kind(models.TextChoices):
        BATTLE = "battle"
        DELIVERY = "delivery"
        ESPIONAGE = "espionage"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    at = models.DateTimeField()
    # Who may read it: the sender, and the owner of the planet it is about (None for NPC bases).
    attacker = models.ForeignKey(Player, on_delete=models.CASCADE, related_name="+")
    defender = models.ForeignKey(Player, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    target = models.ForeignKey(Planet, on_delete=models.CASCADE, related_name="reports")
    data = models.JSONField(default=dict)
    # What a replay needs besides the seed (in `data`): both sides' starting ships, defences and
    # technology levels (combat.services.battle_forces). Null when no battle was fought.
    forces = models.JSONField(null=True, blank=True)
    # When each reader first opened it (null: unread).
    attacker_read_at = models.DateTimeField(null=True, blank=True)
    defender_read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["attacker", "-at"], name="report_attacker_at"),
            models.Index(fields=["defender", "-at"], name="report_defender_at"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} report #{self.pk} at {self.target.coords}"
