"""Limits on hostile clients: login throttling (django-axes) and a per-player limit on API writes.

Logins: django-axes counts failed logins per account and per client address in the database;
`LoginThrottleBackend` sits first in AUTHENTICATION_BACKENDS, so an attempt it refuses never
reaches the password hasher (the expensive part: a few hundred ms of CPU each). Operators lift a
lockout by deleting its "access attempt" in the admin.

Writes: a fixed-window counter per player in Redis (one INCR and one EXPIRE, one round trip), so
the limit holds across every web process and box. When Redis does not answer, the write goes
through: the limit protects the service, and refusing a dispatch because the counter is away would
be the outage it is meant to prevent (the dispatch itself only needs the database).
"""

from __future__ import annotations

import logging
import math
import time
from datetime import datetime

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from ninja.throttling import BaseThrottle
from redis.exceptions import RedisError

from galactic.events import queue

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class LoginThrottleBackend(AxesStandaloneBackend):
    """django-axes' check, for logins made through a web request only: without a request (a shell,
    the test client's `login()`) there is no client to throttle, and axes would refuse to run."""

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs
    ):
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


def client_address(request: HttpRequest) -> str | None:
    """The client's address: the connection's, or behind TRUSTED_PROXIES proxies the one the
    outermost proxy appended to X-Forwarded-For. Entries further left are the client's own words."""
    proxies = settings.TRUSTED_PROXIES
    forwarded = [
        part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()
    ]
    if proxies and len(forwarded) >= proxies:
        return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR")


def lockout_ends(request: HttpRequest, credentials: dict | None) -> datetime:
    """When the lockout of this account or address ends: the cool-off after the last counted failure."""
    username = get_client_username(request, credentials)
    address = getattr(request, "axes_ip_address", None) or client_address(request)
    last = AccessAttempt.objects.filter(Q(username=username) | Q(ip_address=address)).aggregate(
        at=Max("attempt_time")
    )["at"]
    return (last or timezone.now()) + get_cool_off(request)


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    """The answer to a login refused by the throttle (django-axes' AXES_LOCKOUT_CALLABLE): 429, a
    page that says why and until when, and Retry-After."""
    ends = lockout_ends(request, credentials)
    seconds = max(1, math.ceil((ends - timezone.now()).total_seconds()))
    context = {
        "minutes": max(1, math.ceil(seconds / 60)),
        "until": ends,
        "login_url": request.path,
    }
    response = render(request, "game/locked_out.html", context, status=429)
    response["Retry-After"] = str(seconds)
    response._csp_config = settings.PLAYERS_CSP  # read by Django's CSP middleware
    return response


class PlayerWriteThrottle(BaseThrottle):
    """At most API_WRITE_LIMIT writes (any method but GET, HEAD, OPTIONS) per player in each window
    of API_WRITE_WINDOW seconds. Fails open when Redis is unreachable."""

    def allow_request(self, request: HttpRequest) -> bool:
        limit = settings.API_WRITE_LIMIT
        player = getattr(request, "auth", None)
        if request.method in SAFE_METHODS or not limit or player is None:
            return True
        window = settings.API_WRITE_WINDOW
        key = f"gc:writes:{player.pk}:{int(time.time() // window)}"
        if not queue.breaker.allows():  # Redis failed moments ago: fail open at once, not after a timeout
            return True
        try:
            pipe = queue.get_connection().pipeline(transaction=False)
            pipe.incr(key)
            pipe.expire(key, window + 1)
            count, _ = pipe.execute()
        except RedisError as error:
            queue.breaker.trip(error)
            log.warning("write limit not checked (Redis: %s); letting the write through", error)
            return True
        queue.breaker.ok()
        return count <= limit

    def wait(self) -> float:
        """Seconds to the end of the current window (stateless: the windows are fixed)."""
        window = settings.API_WRITE_WINDOW
        return window - time.time() % window
