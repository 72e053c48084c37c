"""POST/GET /api/probes and GET /api/probes/notices: thin views over probes.services and
probes.selectors.

Espionage reports are also read through GET /api/reports/<id>: always by the sender; by the spied
planet's owner only when the probes were discovered (then their notice names the report). An
unseen spy leaves no trace.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field, StrictInt

from combat.api import report_json
from galactic.http.api import ERRORS, PageParams, PlanetId, iso
from probes import selectors, services
from probes.models import Notice, ProbeMission

router = Router(tags=["probes"])


class ProbeIn(Schema):
    origin: PlanetId
    target: PlanetId
    count: StrictInt = Field(..., description="espionage probes to send, 1 or more")
    speed: StrictInt = Field(100, description="10 to 100, in steps of 10")


class ProbeOut(Schema):
    id: int
    status: str
    origin: int
    target: int
    count: int = Field(..., description="probes still alive")
    launched: int
    fuel: int
    speed: int
    depart_at: str
    arrive_at: str
    return_at: str
    discovered: bool | None = Field(..., description="null before the arrival")
    report: dict | None = Field(..., description="the espionage report, null before the arrival")


class ProbePage(Schema):
    items: list[ProbeOut]
    count: int


class NoticeOut(Schema):
    id: int
    at: str
    chance: int
    text: str
    probe_mission: int
    report: int | None


class NoticePage(Schema):
    items: list[NoticeOut]
    count: int


def probe_json(mission: ProbeMission) -> dict:
    return {
        "id": mission.pk,
        "status": mission.status,
        "origin": mission.origin_id,
        "target": mission.target_id,
        "count": mission.count,
        "launched": mission.launched,
        "fuel": mission.fuel,
        "speed": mission.speed,
        "depart_at": iso(mission.depart_at),
        "arrive_at": iso(mission.arrive_at),
        "return_at": iso(mission.return_at),
        "discovered": mission.discovered,
        "report": report_json(mission.report) if mission.report else None,
    }


def notice_json(notice: Notice) -> dict:
    return {
        "id": notice.pk,
        "at": iso(notice.at),
        "chance": notice.chance,
        "text": notice.text,
        "probe_mission": notice.probe_mission_id,
        # Readable by the notified player: a discovered spy's report names them as defender.
        "report": notice.probe_mission.report_id,
    }


@router.post("", response={201: ProbeOut, **ERRORS})
def probe_create(request: HttpRequest, payload: ProbeIn) -> Status:
    """Send espionage probes from one of your planets to any planet, for deuterium. On arrival
    they report its resources, and its ships, defences and technology as the number of probes and
    the espionage levels allow; the report is yours even if the target discovers and destroys
    them. They resolve at the next probe update (every PROBE_UPDATE_INTERVAL s)."""
    mission = services.probe_dispatch(
        player=request.auth,
        origin_id=payload.origin,
        target_id=payload.target,
        count=payload.count,
        speed=payload.speed,
    )
    return Status(201, probe_json(mission))


@router.get("", response={200: ProbePage, **ERRORS})
def probe_list(request: HttpRequest, page: Query[PageParams]) -> dict:
    """Your probe missions, newest first, with their reports once they arrived."""
    missions, count = selectors.probe_missions_of(request.auth.pk, limit=page.limit, offset=page.offset)
    return {"items": [probe_json(mission) for mission in missions], "count": count}


@router.get("/notices", response={200: NoticePage, **ERRORS})
def notice_list(request: HttpRequest, page: Query[PageParams]) -> dict:
    """Probes that others sent against your planets and that were discovered, newest first. A
    notice names the espionage report, which you may then read at /api/reports/{id}."""
    notices, count = selectors.notices_of(request.auth.pk, limit=page.limit, offset=page.offset)
    return {"items": [notice_json(notice) for notice in notices], "count": count}


@router.get("/{probe_id}", response={200: ProbeOut, **ERRORS})
def probe_detail(request: HttpRequest, probe_id: int) -> dict:
    """One of your probe missions; another player's answers 404."""
    mission = selectors.probe_mission_of(request.auth.pk, probe_id)
    if mission is None:
        raise Http404
    return probe_json(mission)
