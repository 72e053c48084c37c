"""The helper that schedules the combat app's job (combat.jobs), called by combat.services."""

from __future__ import annotations

from typing import TYPE_CHECKING

from galactic.events import queue

if TYPE_CHECKING:
    from combat.models import NpcBase

RESPAWN_JOB = "combat.jobs.npc_respawn"


def respawn_job_id(npc_id: int) -> str:
    return f"npc-respawn-{npc_id}"


def schedule_respawn(npc: NpcBase) -> None:
    """After the current transaction commits, run npc:respawn at the base's respawn time."""
    queue.schedule(RESPAWN_JOB, job_id=respawn_job_id(npc.pk), at=npc.respawn_at, args=(npc.pk,))
