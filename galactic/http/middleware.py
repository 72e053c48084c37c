"""Middleware of our own."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

log = logging.getLogger(__name__)


class DropMalformedSessionCookie:
    """A session key is letters and digits. Anything else (a NUL byte, say, which PostgreSQL
    refuses in a query and which would turn every page into a 500) is no session at all.

    Sits just before Django's SessionMiddleware, which stays in place so that Django's deployment
    checks still see it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        if key is not None and not (key.isascii() and key.isalnum()):
            del request.COOKIES[settings.SESSION_COOKIE_NAME]
        return self.get_response(request)


def json_error(status: int, code: str, detail: str, fields: dict | None = None) -> JsonResponse:
    """The API's error format, for refusals made before the API's own code runs."""
    response = JsonResponse({"error": code, "detail": detail, "fields": fields or {}}, status=status)
    response["Content-Length"] = len(response.content)  # answered before CommonMiddleware would add it
    return response


class ApiRequestLimits:
    """Under /api/, a body larger than API_MAX_BODY_BYTES is refused with the API's JSON 413 before
    anything reads it (Django would answer an HTML 400 and log a traceback), and a Content-Length
    that is not a number gets a JSON 400.

    The refused body is read and dropped first, up to API_DRAIN_MAX_BYTES: a server that answers
    and closes while the client is still sending resets the connection, and the client never sees
    the answer. Beyond that cap the answer is sent at once (a reverse proxy in front should refuse
    such bodies itself).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith("/api/"):
            return self.get_response(request)
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if not declared.isdigit():
            return json_error(400, "invalid", "Content-Length is not a number", {"body": "bad length"})
        limit = settings.API_MAX_BODY_BYTES
        if int(declared) > limit:
            if int(declared) <= settings.API_DRAIN_MAX_BYTES:
                _drain(request)
            return json_error(
                413, "too_large", f"the request body is larger than {limit} bytes", {"body": "too large"}
            )
        return self.get_response(request)


def _drain(request: HttpRequest, chunk: int = 64 * 1024) -> None:
    """Read the body to its end, keeping nothing (Django's stream stops at Content-Length)."""
    try:
        while request.read(chunk):
            pass
    except Exception:  # whatever the server's stream raises when the client stops: nothing to read
        log.info("a refused request body ended early")
