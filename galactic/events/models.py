"""What the database keeps about game events that went wrong: each failed or crashed attempt, and
the events that spent their attempt budget (quarantined). See galactic.events.attempts.

Kept in PostgreSQL rather than Redis so that a wiped Redis (FLUSHALL, a restart) neither forgets a
quarantine, which reconciliation would otherwise undo, nor the history an operator reads.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class EventAttempt(models.Model):
    """One attempt of an event that did not succeed (or an operator's release of it)."""

    class Kind(models.TextChoices):
        FAILED = "failed"  # the handler raised
        CRASHED = "crashed"  # its worker died mid-job, and it was handed back (or quarantined)
        RELEASED = "released"  # an operator released it from quarantine

    job_id = models.CharField(max_length=200, db_index=True)
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    worker = models.CharField(max_length=200, blank=True)
    detail = models.TextField(blank=True)  # the traceback of a failure, what an operator did

    class Meta:
        ordering = ("job_id", "at", "pk")

    def __str__(self) -> str:
        return f"{self.job_id} {self.kind} at {self.at:%Y-%m-%d %H:%M:%S}"


class QuarantinedEvent(models.Model):
    """An event that spent its attempt budget: nothing runs it again until an operator releases it."""

    job_id = models.CharField(max_length=200, unique=True)
    func = models.CharField(max_length=200)  # the job's dotted path, to run or requeue it on release
    args = models.JSONField(default=list)
    due = models.DateTimeField(null=True, blank=True)
    at = models.DateTimeField(default=timezone.now)
    reason = models.CharField(max_length=200)
    error = models.TextField(blank=True)  # the last traceback

    class Meta:
        ordering = ("at", "pk")

    def __str__(self) -> str:
        return f"{self.job_id} ({self.reason})"
