"""Reads on NPC bases and reports."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Q

from combat import schedules
from combat.models import NpcBase, Report
from galactic.events.queue import PendingEvent


def pending_events() -> Iterator[PendingEvent]:
    """The respawn of every defeated NPC base."""
    rows = NpcBase.objects.filter(state=NpcBase.State.DEFEATED).values_list("pk", "respawn_at")
    for npc_id, respawn_at in rows.iterator(chunk_size=5000):
        yield PendingEvent(schedules.RESPAWN_JOB, schedules.respawn_job_id(npc_id), respawn_at, (npc_id,))


def _readable_by(player_id: int) -> Q:
    return Q(attacker_id=player_id) | Q(defender_id=player_id)


def report_readable_by(report_id: int, player_id: int) -> Report | None:
    """The report, if the player sent the mission or owns the planet it is about."""
    return Report.objects.filter(_readable_by(player_id), pk=report_id).first()


def reports_of(player_id: int, *, kind: str | None, limit: int, offset: int) -> tuple[list[Report], int]:
    """A page of the reports the player may read, newest first (by game time), and how many there
    are in all: their missions' reports, and those about their planets (attacks and deliveries
    received, discovered espionage)."""
    reports = Report.objects.filter(_readable_by(player_id))
    if kind:
        reports = reports.filter(kind=kind)
    return list(reports.order_by("-at", "-id")[offset : offset + limit]), reports.count()


def is_unread(report: Report, player_id: int) -> bool:
    """Whether the player has not opened the report yet (as its sender, or as the owner of its
    target: the same player may be both, on a transport to their own planet)."""
    unread = False
    if report.attacker_id == player_id:
        unread = report.attacker_read_at is None
    if report.defender_id == player_id:
        unread = unread or report.defender_read_at is None
    return unread
