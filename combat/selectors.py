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


def report_readable_by(report_id: int, player_id: int) -> Report | None:
    """The report, if the player sent the mission or owns the planet it is about."""
    return Report.objects.filter(Q(attacker_id=player_id) | Q(defender_id=player_id), pk=report_id).first()
