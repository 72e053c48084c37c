"""The JSON API: authentication, the error format, and the universe's own endpoints.

Mission apps add their routers in galactic/urls.py. Every refusal answers
`{"error": code, "detail": text, "fields": {...}}`; objects that are not the player's answer 404.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Annotated

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import re_path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI, Path, Router, Schema
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError
from ninja.parser import Parser
from ninja.security import APIKeyHeader, SessionAuth
from pydantic import Field, StrictInt

from galactic.errors import GameError
from galactic.flight import GALAXIES, SYSTEMS
from galactic.http.throttle import PlayerWriteThrottle
from galactic.models import Planet, Player, hash_token

log = logging.getLogger(__name__)


def iso(at: datetime | None) -> str | None:
    """ISO 8601 in UTC with milliseconds, as CONTRACT.md promises."""
    if at is None:
        return None
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TokenAuth(APIKeyHeader):
    """`Authorization: Token <token>` for scripts and bots. A request that sends the header is
    judged on it alone: a wrong token answers 401, whatever cookies come along."""

    param_name = "Authorization"

    def authenticate(self, request: HttpRequest, key: str | None) -> Player | None:
        if not key:
            return None  # no header: the session's turn
        scheme, _, token = key.partition(" ")
        player = None
        if scheme == "Token" and token.strip():
            player = (
                Player.objects.select_related("user").filter(token_hash=hash_token(token.strip())).first()
            )
        if player is None or not player.user.is_active:
            raise AuthenticationError(401, "the token is not valid")
        request.player = player
        return player


class PlayerSessionAuth(SessionAuth):
    """A logged-in browser session whose user is a player. The CSRF check concerns only a request
    that holds a session: without one the answer is 401, never a word about CSRF."""

    def _get_key(self, request: HttpRequest) -> str | None:
        if not request.user.is_authenticated:
            return None
        return super()._get_key(request)  # the CSRF check (403 without the token)

    def authenticate(self, request: HttpRequest, key: str | None) -> Player | None:
        user = super().authenticate(request, key)
        if user is None:
            return None
        player = Player.objects.filter(user=user).first()
        request.player = player
        return player


class NotAnObject(ValueError):
    pass


class UnsupportedMediaType(ValueError):
    pass


class ObjectParser(Parser):
    """Every request body of this API is a JSON object: a list, a number or null is malformed, and a
    body declared as anything but JSON is refused unread (415). No Content-Type is taken as JSON."""

    def parse_body(self, request: HttpRequest) -> dict:
        media_type = request.content_type or "application/json"
        if media_type != "application/json" and not media_type.endswith("+json"):
            raise UnsupportedMediaType(media_type)
        data = super().parse_body(request)
        if not isinstance(data, dict):
            raise NotAnObject("not a JSON object")
        return data


class GameAPI(NinjaAPI):
    """The API, whose every answer under /api/ is JSON: also a path that names no endpoint (404)
    and a method the endpoint does not take (405), which django-ninja answers in HTML or plain
    text."""

    @property
    def urls(self) -> tuple[list, str, str]:
        patterns, app_name, namespace = super().urls
        for pattern in patterns:
            pattern.callback = _json_refusals(pattern.callback)
        return [*patterns, re_path(r"", _no_such_endpoint)], app_name, namespace


def _json_refusals(view: Callable) -> Callable:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        try:
            response = view(request, *args, **kwargs)
        except Http404:  # django-ninja's root view (/api/)
            return _no_such_endpoint(request)
        if response.status_code == 405 and "json" not in response.get("Content-Type", ""):
            allowed = response["Allow"]
            response = error_response(
                request, 405, "method_not_allowed", f"{request.method} is not allowed here; use {allowed}"
            )
            response["Allow"] = allowed
        return response

    return wrapper


@csrf_exempt
def _no_such_endpoint(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
    return error_response(request, 404, "not_found", "no such API endpoint (see /api/docs)")


api = GameAPI(
    parser=ObjectParser(),
    throttle=[PlayerWriteThrottle()],
    title="Galactic Conquest",
    version="1",
    openapi_url="/openapi.json",
    docs_url="/docs",
    auth=[TokenAuth(), PlayerSessionAuth()],
    urls_namespace="api",
)


def error_response(request: HttpRequest, status: int, code: str, detail: str, fields: dict | None = None):
    return api.create_response(
        request, {"error": code, "detail": detail, "fields": fields or {}}, status=status
    )


@api.exception_handler(GameError)
def _game_error(request: HttpRequest, exc: GameError) -> HttpResponse:
    return error_response(request, exc.status, exc.code, exc.detail, exc.fields)


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    fields = {}
    for error in exc.errors:
        location = [
            str(part) for part in error.get("loc", ()) if part not in ("body", "payload", "path", "query")
        ]
        fields[".".join(location) or "body"] = error.get("msg", "invalid")
    return error_response(request, 400, "invalid", "the request is not valid", fields)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    problem = "the token is not valid; " if "Authorization" in request.headers else ""
    response = error_response(
        request,
        401,
        "unauthenticated",
        f"{problem}send `Authorization: Token <token>` or log in (a player's session)",
    )
    response["WWW-Authenticate"] = 'Token realm="api"'
    return response


@api.exception_handler(Throttled)
def _throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
    """django-ninja adds Retry-After (whole seconds) to this answer."""
    return error_response(
        request,
        429,
        "too_many_requests",
        f"more than {settings.API_WRITE_LIMIT} orders in {settings.API_WRITE_WINDOW} s; "
        "wait for the time in Retry-After",
    )


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    """Django's own limit (DATA_UPLOAD_MAX_MEMORY_SIZE), should it be lower than the API's."""
    return body_too_large(request)


def body_too_large(request: HttpRequest) -> HttpResponse:
    limit = settings.API_MAX_BODY_BYTES
    return error_response(
        request, 413, "too_large", f"the request body is larger than {limit} bytes", {"body": "too large"}
    )


@api.exception_handler(Exception)
def _server_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    """A bug: the traceback goes to the log, the client gets the API's JSON, not an HTML page."""
    log.exception("API error on %s %s", request.method, request.path)
    return error_response(request, 500, "server_error", "something went wrong on our side; it is logged")


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response(request, 404, "not_found", "no such object of yours")


HTTP_ERROR_CODES = {
    400: "invalid",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    """django-ninja's own refusals: a body that is not JSON (400), a failed CSRF check (403)."""
    status = exc.status_code
    if status == 400 and isinstance(exc.__cause__, UnsupportedMediaType):
        return error_response(
            request,
            415,
            "unsupported_media_type",
            f"the body is {exc.__cause__}; send JSON with `Content-Type: application/json`",
            {"body": "not JSON"},
        )
    if status == 400 and exc.__cause__ is not None:  # the body could not be parsed
        problem = str(exc.__cause__) if isinstance(exc.__cause__, NotAnObject) else "not valid JSON"
        return error_response(request, 400, "invalid", f"the request body is {problem}", {"body": problem})
    return error_response(request, status, HTTP_ERROR_CODES.get(status, "error"), str(exc))


PlanetId = Annotated[StrictInt, Field(ge=1, le=2**63 - 1, description="a planet's id")]


class ErrorOut(Schema):
    error: str
    detail: str
    fields: dict[str, str]


# 413 (body too large), 415 (not JSON) and 429 (too many writes) are documented with the others, in
# the one error format.
ERRORS = {status: ErrorOut for status in (400, 401, 404, 409, 413, 415, 429)}


class Amounts(Schema):
    metal: int
    crystal: int
    deuterium: int


class PlanetOut(Schema):
    id: int
    name: str
    coords: str
    resources: Amounts
    as_of: str
    production: Amounts
    ships: dict[str, int]
    defences: dict[str, int]


class PlanetSummary(Schema):
    id: int
    name: str
    coords: str


class GalaxyPlanet(Schema):
    id: int
    coords: str
    name: str
    owner: str | None
    npc: dict | None = Field(None, description="tier and state, for an NPC base")


class GalaxyOut(Schema):
    galaxy: int
    system: int
    planets: list[GalaxyPlanet]


router = Router(tags=["universe"])


@router.get("/planets", response={200: list[PlanetSummary], **ERRORS})
def planet_list(request: HttpRequest) -> list[dict]:
    """Your planets (id, name, coords), oldest first: the home planet leads."""
    planets = Planet.objects.filter(owner=request.auth).order_by("pk")
    return [{"id": planet.pk, "name": planet.name, "coords": str(planet.coords)} for planet in planets]


@router.get("/planets/{planet_id}", response={200: PlanetOut, **ERRORS})
def planet_detail(request: HttpRequest, planet_id: int) -> dict:
    planet = get_object_or_404(Planet, pk=planet_id, owner=request.auth)
    now = timezone.now()
    return {
        "id": planet.pk,
        "name": planet.name,
        "coords": str(planet.coords),
        "resources": planet.resources_as_of(now),
        "as_of": iso(now),
        "production": planet.production,
        "ships": planet.ships,
        "defences": planet.defences,
    }


@router.get("/galaxy/{galaxy}/{system}", response={200: GalaxyOut, **ERRORS})
def galaxy_view(
    request: HttpRequest,
    galaxy: int = Path(..., ge=GALAXIES.start, le=GALAXIES.stop - 1),
    system: int = Path(..., ge=SYSTEMS.start, le=SYSTEMS.stop - 1),
) -> dict:
    planets = (
        Planet.objects.filter(galaxy=galaxy, system=system)
        .select_related("owner__user", "npc")
        .order_by("position")
    )
    return {
        "galaxy": galaxy,
        "system": system,
        "planets": [
            {
                "id": planet.pk,
                "coords": str(planet.coords),
                "name": planet.name,
                "owner": planet.owner.user.username if planet.owner else None,
                "npc": _npc_summary(planet),
            }
            for planet in planets
        ],
    }


def _npc_summary(planet: Planet) -> dict | None:
    npc = getattr(planet, "npc", None)
    return {"tier": npc.tier, "state": npc.state} if npc else None
