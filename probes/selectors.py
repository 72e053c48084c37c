"""Reads on probe missions and notices that are more than a one-line query."""

from __future__ import annotations

from probes.models import Notice, ProbeMission


def probe_mission_of(player_id: int, mission_id: int) -> ProbeMission | None:
    """The player's mission with its report, or None (missing and not yours look the same)."""
    return ProbeMission.objects.select_related("report").filter(pk=mission_id, owner_id=player_id).first()


def probe_missions_of(player_id: int, *, limit: int, offset: int) -> tuple[list[ProbeMission], int]:
    """A page of the player's probe missions, newest first, and how many there are in all."""
    missions = ProbeMission.objects.filter(owner_id=player_id)
    page = missions.select_related("report").order_by("-id")[offset : offset + limit]
    return list(page), missions.count()


def notices_of(player_id: int, *, limit: int, offset: int) -> tuple[list[Notice], int]:
    """A page of the notices the player received (probes discovered on their planets), newest first."""
    notices = Notice.objects.filter(player_id=player_id)
    page = notices.select_related("probe_mission").order_by("-at", "-id")[offset : offset + limit]
    return list(page), notices.count()
