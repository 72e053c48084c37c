"""The helpers that schedule the fleet pipeline's jobs (fleets.jobs), called by fleets.services.

Services import this module, never jobs, so that jobs (which call services) import nothing back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from galactic.events import queue

if TYPE_CHECKING:
    from fleets.models import Fleet

ARRIVAL_JOB_PREFIX = "fleet-arrival-"
RETURN_JOB_PREFIX = "fleet-return-"
ARRIVAL_JOB = "fleets.jobs.fleet_arrival"
RETURN_JOB = "fleets.jobs.fleet_return"


def arrival_job_id(fleet_id: int) -> str:
    return f"{ARRIVAL_JOB_PREFIX}{fleet_id}"


def return_job_id(fleet_id: int) -> str:
    return f"{RETURN_JOB_PREFIX}{fleet_id}"


def schedule_arrival(fleet: Fleet) -> None:
    queue.schedule(ARRIVAL_JOB, job_id=arrival_job_id(fleet.pk), at=fleet.arrive_at, args=(fleet.pk,))


def schedule_returns(fleets: Sequence[Fleet]) -> None:
    events = [queue.PendingEvent(RETURN_JOB, return_job_id(f.pk), f.return_at, (f.pk,)) for f in fleets]
    queue.schedule_many(events)


def schedule_return(fleet: Fleet) -> None:
    schedule_returns([fleet])
