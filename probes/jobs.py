"""RQ entry points of the probes app."""

from __future__ import annotations

from django.utils import timezone

from probes import services


def probe_update() -> dict[str, int]:
    """probe:update (periodic, run by rq-scheduler every PROBE_UPDATE_INTERVAL s): advance every
    probe mission that is due now. Safe to run twice, or two at once."""
    return services.probe_missions_advance(now=timezone.now())


def probe_mission(mission_id: int) -> bool:
    """One mission of probe:update on its own, if it is due: how an operator releases a mission
    that was quarantined (see galactic.events.stuck). Idempotent."""
    return services.probe_mission_advance(mission_id, now=timezone.now())
