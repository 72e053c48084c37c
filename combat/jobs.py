"""RQ entry points of the combat app, and the helper that schedules them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from combat import services
from galactic import queue

if TYPE_CHECKING:
    from combat.models import NpcBase


def respawn_job_id(npc_id: int) -> str:
    return f"npc-respawn-{npc_id}"


def schedule_respawn(npc: NpcBase) -> None:
    """After the current transaction commits, run npc:respawn at the base's respawn time."""
    queue.schedule(
        "combat.jobs.npc_respawn", job_id=respawn_job_id(npc.pk), at=npc.respawn_at, args=(npc.pk,)
    )


def npc_respawn(npc_id: int) -> bool:
    """npc:respawn"""
    return services.npc_respawn(npc_id=npc_id)
