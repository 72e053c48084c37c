"""GET /api/reports and /api/reports/<id>: reports the player may read (their own, or about their
planet)."""

from __future__ import annotations

from typing import Literal

from django.http import Http404, HttpRequest
from django.utils import timezone
from ninja import Query, Router, Schema
from pydantic import BaseModel, ConfigDict, Field

from combat import selectors, services
from combat.models import Report
from galactic.http.api import ERRORS, iso

router = Router(tags=["reports"])


class ReportOut(BaseModel):
    """The common fields; the kind's own fields follow (a plain pydantic model: django-ninja's
    Schema drops extra fields even with extra="allow")."""

    model_config = ConfigDict(extra="allow")

    id: int
    kind: str = Field(..., description="battle, delivery or espionage")
    at: str
    target: int
    unread: bool | None = Field(None, description="you have not opened it yet (lists and details only)")
    forces: dict | None = Field(
        None,
        description="battles: both sides' starting ships, defences and technology levels, which with the "
        "seed replay the battle (`manage.py replay_battle <id>`)",
    )


class ReportPage(BaseModel):
    items: list[ReportOut]
    count: int


class ReportParams(Schema):
    kind: Literal["battle", "delivery", "espionage"] | None = None
    limit: int = Field(20, ge=1, le=100)
    offset: int = Field(0, ge=0, le=10**9)


def report_json(report: Report, reader_id: int | None = None) -> dict:
    """The report's common fields, then its kind's (battle: outcome, rounds, seed, losses, loot,
    debris, forces; espionage: accuracy and the sections revealed; delivery: delivered). With a
    reader, whether they have opened it."""
    body = {"id": report.pk, "kind": report.kind, "at": iso(report.at), "target": report.target_id}
    if reader_id is not None:
        body["unread"] = selectors.is_unread(report, reader_id)
    return {**body, "forces": report.forces, **report.data}


@router.get("", response={200: ReportPage, **ERRORS})
def report_list(request: HttpRequest, page: Query[ReportParams]) -> dict:
    reports, count = selectors.reports_of(
        request.auth.pk, kind=page.kind, limit=page.limit, offset=page.offset
    )
    return {"items": [report_json(report, request.auth.pk) for report in reports], "count": count}


@router.get("/{report_id}", response={200: ReportOut, **ERRORS})
def report_detail(request: HttpRequest, report_id: int) -> dict:
    """The report; opening it marks it read for you."""
    report = selectors.report_readable_by(report_id, request.auth.pk)
    if report is None:
        raise Http404
    body = report_json(report, request.auth.pk)
    services.report_mark_read(report=report, player_id=request.auth.pk, at=timezone.now())
    return body
