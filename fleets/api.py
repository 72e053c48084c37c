"""POST/GET /api/fleets: thin views over fleets.services and fleets.selectors."""

from __future__ import annotations

from django.http import Http404, HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field, StrictInt

from combat.api import report_json
from fleets import selectors, services
from fleets.models import Fleet
from galactic.http.api import ERRORS, Amounts, PageParams, PlanetId, iso

router = Router(tags=["fleets"])


class FleetIn(Schema):
    origin: PlanetId
    target: PlanetId
    mission: str = Field(..., description="attack or transport")
    ships: dict[str, StrictInt] = Field(..., description="ship type -> count")
    cargo: dict[str, StrictInt] = Field(default_factory=dict, description="metal, crystal, deuterium")
    speed: StrictInt = Field(100, description="10 to 100, in steps of 10")


class FleetOut(Schema):
    id: int
    mission: str
    status: str
    origin: int
    target: int
    ships: dict[str, int]
    cargo: Amounts
    fuel: int
    speed: int
    depart_at: str
    arrive_at: str
    return_at: str
    report: dict | None


class FleetPage(Schema):
    items: list[FleetOut]
    count: int


def fleet_json(fleet: Fleet) -> dict:
    return {
        "id": fleet.pk,
        "mission": fleet.mission,
        "status": fleet.status,
        "origin": fleet.origin_id,
        "target": fleet.target_id,
        "ships": fleet.ships,
        "cargo": fleet.cargo,
        "fuel": fleet.fuel,
        "speed": fleet.speed,
        "depart_at": iso(fleet.depart_at),
        "arrive_at": iso(fleet.arrive_at),
        "return_at": iso(fleet.return_at),
        "report": report_json(fleet.report) if fleet.report else None,
    }


@router.post("", response={201: FleetOut, **ERRORS})
def fleet_create(request: HttpRequest, payload: FleetIn) -> Status:
    fleet = services.fleet_dispatch(
        player=request.auth,
        origin_id=payload.origin,
        target_id=payload.target,
        mission=payload.mission,
        ships=payload.ships,
        cargo=payload.cargo,
        speed=payload.speed,
    )
    return Status(201, fleet_json(fleet))


@router.get("", response={200: FleetPage, **ERRORS})
def fleet_list(request: HttpRequest, page: Query[PageParams]) -> dict:
    fleets, count = selectors.fleets_of(request.auth.pk, limit=page.limit, offset=page.offset)
    return {"items": [fleet_json(fleet) for fleet in fleets], "count": count}


@router.get("/{fleet_id}", response={200: FleetOut, **ERRORS})
def fleet_detail(request: HttpRequest, fleet_id: int) -> dict:
    fleet = selectors.fleet_of(fleet_id, request.auth.pk)
    if fleet is None:
        raise Http404
    return fleet_json(fleet)


@router.post("/{fleet_id}/recall", response={200: FleetOut, **ERRORS})
def fleet_recall(request: HttpRequest, fleet_id: int) -> dict:
    """Turn an outbound fleet around: it comes home after the time it has flown, with its cargo."""
    return fleet_json(services.fleet_recall(fleet_id=fleet_id, player=request.auth))
