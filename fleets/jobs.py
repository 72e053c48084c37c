"""RQ entry points of the fleet pipeline, and the helpers that schedule them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fleets import services
from galactic import queue

if TYPE_CHECKING:
    from fleets.models import Fleet


def arrival_job_id(fleet_id: int) -> str:
    return f"fleet-arrival-{fleet_id}"


def return_job_id(fleet_id: int) -> str:
    return f"fleet-return-{fleet_id}"


def schedule_arrival(fleet: Fleet) -> None:
    queue.schedule(
        "fleets.jobs.fleet_arrival", job_id=arrival_job_id(fleet.pk), at=fleet.arrive_at, args=(fleet.pk,)
    )


def schedule_return(fleet: Fleet) -> None:
    queue.schedule(
        "fleets.jobs.fleet_return", job_id=return_job_id(fleet.pk), at=fleet.return_at, args=(fleet.pk,)
    )


def fleet_arrival(fleet_id: int) -> bool:
    """fleet:arrival"""
    return services.fleet_arrive(fleet_id=fleet_id)


def fleet_return(fleet_id: int) -> bool:
    """fleet:return"""
    return services.fleet_return(fleet_id=fleet_id)
