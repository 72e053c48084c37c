"""GET /api/reports/<id>: reports the player may read (their own, or about their planet)."""

from __future__ import annotations

from django.http import Http404, HttpRequest
from ninja import Router
from pydantic import BaseModel, ConfigDict, Field

from combat import selectors
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


def report_json(report: Report) -> dict:
    """The report's common fields, then its kind's (battle: outcome, rounds, seed, losses, loot,
    debris; espionage: accuracy and the sections revealed; delivery: delivered)."""
    return {
        "id": report.pk,
        "kind": report.kind,
        "at": iso(report.at),
        "target": report.target_id,
        **report.data,
    }


@router.get("/{report_id}", response={200: ReportOut, **ERRORS})
def report_detail(request: HttpRequest, report_id: int) -> dict:
    report = selectors.report_readable_by(report_id, request.auth.pk)
    if report is None:
        raise Http404
    return report_json(report)
