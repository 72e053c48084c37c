"""RQ entry points of the combat app (scheduled by combat.schedules)."""

from __future__ import annotations

from combat import services


def npc_respawn(npc_id: int) -> bool:
    """npc:respawn"""
    return services.npc_respawn(npc_id=npc_id)
