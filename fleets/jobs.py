"""RQ entry points of the fleet pipeline: each takes fleet ids and calls one service.

Each event has a job function that takes one fleet, and a batch function that takes the fleets of
many such jobs at once: the GameWorker runs jobs of one kind that are due together through the
batch function, in one transaction (declared in fleets.apps with galactic.events.queue.batchable).
The helpers that schedule these jobs are in fleets.schedules.
"""

from __future__ import annotations

from collections.abc import Sequence

from fleets import services


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
