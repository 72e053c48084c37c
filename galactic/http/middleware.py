"""Middleware of our own."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


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
