"""RQ entry points of the fleet pipeline, and the helpers that schedule them.

Each event has a job function that takes one fleet, and a batch function that takes the fleets of
many such jobs at once: the GameWorker runs jobs of one kind that are due together through the
batch function, in one transaction (galactic.queue.batchable, at the end of this module).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from fleets import services
from galactic import queue

if TYPE_CHECKING:
    from fleets.models import Fleet

ARRIVAL_JOB_PREFIX = "fleet-arrival-"
RETURN_JOB_PREFIX = "fleet-return-"


def arrival_job_id(fleet_id: int) -> str:
    return f"{ARRIVAL_JOB_PREFIX}{fleet_id}"


def return_job_id(fleet_id: int) -> str:
    return f"{RETURN_JOB_PREFIX}{fleet_id}"


def schedule_arrival(fleet: Fleet) -> None:
    queue.schedule(
        "fleets.jobs.fleet_arrival", job_id=arrival_job_id(fleet.pk), at=fleet.arrive_at, args=(fleet.pk,)
    )


def schedule_returns(fleets: Sequence[Fleet]) -> None:
    events = [
        queue.PendingEvent("fleets.jobs.fleet_return", return_job_id(f.pk), f.return_at, (f.pk,))
        for f in fleets
    ]
    queue.schedule_many(events)


def schedule_return(fleet: Fleet) -> None:
    schedule_returns([fleet])


def fleet_arrival(fleet_id: int) -> bool:
    """fleet:arrival"""
    return services.fleet_arrive(fleet_id=fleet_id)


def fleet_arrivals(fleet_ids: Sequence[int]) -> list[bool]:
    """fleet:arrival, for the jobs of a batch: their results, in order."""
    acted = services.fleet_arrive_many(fleet_ids)
    return [acted[fleet_id] for fleet_id in fleet_ids]


def fleet_return(fleet_id: int) -> bool:
    """fleet:return"""
    return services.fleet_return(fleet_id=fleet_id)


def fleet_returns(fleet_ids: Sequence[int]) -> list[bool]:
    """fleet:return, for the jobs of a batch: their results, in order."""
    acted = services.fleet_return_many(fleet_ids)
    return [acted[fleet_id] for fleet_id in fleet_ids]


queue.batchable(fleet_arrival, id_prefix=ARRIVAL_JOB_PREFIX, run_many=fleet_arrivals)
queue.batchable(fleet_return, id_prefix=RETURN_JOB_PREFIX, run_many=fleet_returns)
