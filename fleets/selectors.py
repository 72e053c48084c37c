"""Reads on fleets that are more than a one-line query."""

from __future__ import annotations

from collections.abc import Iterator

from combat.models import Report
from fleets import schedules
from fleets.models import Fleet
from galactic.db import CompiledQuery
from galactic.events.queue import PendingEvent

# what a player polls: compiled once per process (see galactic.db.CompiledQuery)
_FLEET_OF = CompiledQuery(lambda pk, owner: Fleet.objects.filter(pk=pk, owner_id=owner)[:1], int, int)
_REPORT = CompiledQuery(lambda pk: Report.objects.filter(pk=pk)[:1], int)


def pending_events() -> Iterator[PendingEvent]:
    """Every fleet event the database says must still happen: arrivals of outbound fleets and
    returns of returning ones."""
    rows = Fleet.objects.filter(status__in=(Fleet.Status.OUTBOUND, Fleet.Status.RETURNING)).values_list(
        "pk", "status", "arrive_at", "return_at"
    )
    for fleet_id, status, arrive_at, return_at in rows.iterator(chunk_size=5000):
        if status == Fleet.Status.OUTBOUND:
            yield PendingEvent(
                schedules.ARRIVAL_JOB, schedules.arrival_job_id(fleet_id), arrive_at, (fleet_id,)
            )
        else:
            yield PendingEvent(
                schedules.RETURN_JOB, schedules.return_job_id(fleet_id), return_at, (fleet_id,)
            )


def fleets_of(player_id: int, *, limit: int, offset: int) -> tuple[list[Fleet], int]:
    """A page of the player's fleets, newest first, and how many there are in all."""
    fleets = Fleet.objects.filter(owner_id=player_id).select_related("report")
    return list(fleets.order_by("-id")[offset : offset + limit]), fleets.count()


def fleet_of(fleet_id: int, player_id: int) -> Fleet | None:
    """The fleet with its report (if it has one yet), if it is the player's."""
    fleet = _FLEET_OF.first(fleet_id, player_id)
    if fleet is not None and fleet.report_id is not None:
        fleet.report = _REPORT.first(fleet.report_id)
    return fleet
