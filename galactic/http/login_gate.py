"""The cheap front door of the logins (the players' and the admin's), in front of django-axes.

A POST to a login page is answered 429 at once, before the session, the form, the database or the
password hasher are touched, when:

- the account or the address is locked out: django-axes decided it (in the database) on the
  failure that reached the limit; its decision is mirrored here in Redis keys that expire when the
  lockout does, so each further attempt costs one Redis round trip instead of a Django login page;
- another attempt for the same account or from the same address is being checked right now, or
  one failed less than LOGIN_RETRY_SECONDS ago: one password hash at a time per account and per
  address, and at most one per LOGIN_RETRY_SECONDS after a failure, so eight concurrent guessers
  cost a fraction of one core, not eight hashes at once, and the other players' requests keep the
  rest of the machine.

django-axes stays the authority: without Redis every attempt goes on to it, and a lockout lifted in
the admin (its access attempt deleted) clears the mirror too.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable
from datetime import timedelta

from axes.helpers import get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.conf import settings
from django.db.models import Max, Sum
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.template.loader import get_template, render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.csp import build_policy
from redis import Redis
from redis.commands.core import Script
from redis.exceptions import RedisError

from galactic.events import queue
from galactic.http.throttle import client_address

log = logging.getLogger(__name__)

HOLD_SECONDS = 10  # an attempt's hold on its account and address; longer than any password check
FIELDS = {"ip_address": "address", "username": "account"}  # axes' lockout parameters, our key names
REFUSAL_TEMPLATE = "game/locked_out.html"


def _key(kind: str, field: str, value: str) -> str:
    return f"gc:login:{kind}:{FIELDS[field]}:{value}"


class LoginGate:
    """Middleware, first after SecurityMiddleware: see the module docstring."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        # Paid here, when the web process starts, and not by the first refused attempts in each
        # process while other requests queue behind them: the URL reverse map (the first reverse()
        # builds it for every route: 60-80 ms of CPU) and the refusal page's compiled template.
        self.login_paths = {reverse("login"), reverse("admin:login")}
        get_template(REFUSAL_TEMPLATE)
        self.busy_pages: dict[str, str] = {}  # the "one login at a time" page, by login path

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST" or not settings.AXES_ENABLED or request.path_info not in self.login_paths:
            return self.get_response(request)
        who = {
            "ip_address": client_address(request) or "",
            "username": request.POST.get("username", "")[:150],
        }
        if not queue.breaker.allows():  # Redis failed moments ago: on to axes at once
            return self.get_response(request)
        locks = [_key("locked", field, value) for field, value in who.items()]
        held = [_key("busy", field, value) for field, value in who.items()]
        try:
            conn = queue.get_connection()
            verdict = _script(conn)(keys=[*locks, *held], args=[HOLD_SECONDS])
        except RedisError as error:
            queue.breaker.trip(error)
            log.warning("login gate not checked (Redis: %s); the attempt goes on", error)
            return self.get_response(request)
        if verdict > 0:
            return refusal(request, locked=True, retry_after=math.ceil(verdict / 1000))
        if verdict == 0:
            return self.busy(request)
        response = None
        try:
            response = self.get_response(request)
            return response
        finally:
            _let_go(conn, held, succeeded=response is not None and response.status_code == 302)

    def busy(self, request: HttpRequest) -> HttpResponse:
        """The refusal of an attempt while another is checked: the commonest answer under a brute
        force, the same page every time (rendered once per login path)."""
        if request.path not in self.busy_pages:
            self.busy_pages[request.path] = _page(busy=True, login_url=request.path)
        retry_after = max(1, math.ceil(settings.LOGIN_RETRY_SECONDS))
        return _refusal_response(self.busy_pages[request.path], retry_after)


# The gate's decision in one round trip. KEYS: the lockout marks of the address and the account,
# then their holds; ARGV[1]: a hold's lifetime (s). The remaining lockout in ms when either is
# locked out; 0 when either is held by another attempt; otherwise -1, both held now (all or none).
_GATE_SCRIPT = """
local locked = math.max(redis.call('PTTL', KEYS[1]), redis.call('PTTL', KEYS[2]))
if locked > 0 then return locked end
if redis.call('EXISTS', KEYS[3], KEYS[4]) > 0 then return 0 end
redis.call('SET', KEYS[3], '1', 'EX', ARGV[1])
redis.call('SET', KEYS[4], '1', 'EX', ARGV[1])
return -1
"""
_scripts: dict[int, Script] = {}


def _script(conn: Redis) -> Script:
    """The gate's script, registered once per client (it loads itself into Redis when missing)."""
    if id(conn) not in _scripts:
        _scripts[id(conn)] = conn.register_script(_GATE_SCRIPT)
    return _scripts[id(conn)]


def _let_go(conn, held: list[str], *, succeeded: bool) -> None:
    """Release the account and address at once after a login; after a failure, only once
    LOGIN_RETRY_SECONDS have passed: a guesser then costs at most one password hash per that
    many seconds, a person who mistyped waits a second."""
    pause = settings.LOGIN_RETRY_SECONDS
    with contextlib.suppress(RedisError):  # else the keys expire by themselves
        if succeeded or pause <= 0:
            conn.delete(*held)
        else:
            pipe = conn.pipeline(transaction=False)
            for key in held:
                pipe.pexpire(key, int(pause * 1000))
            pipe.execute()


def refusal(request: HttpRequest, *, locked: bool, retry_after: int) -> HttpResponse:
    """The 429 page, made without the session or the database."""
    minutes = max(1, math.ceil(retry_after / 60))
    until = timezone.now() + timedelta(seconds=retry_after)
    page = _page(busy=not locked, minutes=minutes, until=until, login_url=request.path)
    return _refusal_response(page, retry_after)


def _page(**context: object) -> str:
    return render_to_string(REFUSAL_TEMPLATE, context)


def _refusal_response(page: str, retry_after: int) -> HttpResponse:
    """429 with the page and Retry-After (the CSP middleware, further in, never sees this answer:
    its policy is set here)."""
    response = HttpResponse(page, status=429)
    response["Retry-After"] = str(retry_after)
    response["Content-Security-Policy"] = build_policy(settings.PLAYERS_CSP)
    return response


@receiver(user_locked_out, dispatch_uid="galactic-login-gate-mark")
def mark_lockout(
    sender: object, request: HttpRequest, username: str | None, ip_address: str | None, **kwargs
) -> None:
    """Mirror axes' lockout in Redis, for each parameter over the limit, until it ends."""
    now = timezone.now()
    cool_off = get_cool_off(request)
    limit = get_failure_limit(request, getattr(request, "axes_credentials", None))
    recent = AccessAttempt.objects.filter(attempt_time__gte=now - cool_off)
    try:
        conn = queue.get_connection()
        for field, value in (("ip_address", ip_address), ("username", username)):
            if value is None:
                continue
            seen = recent.filter(**{field: value}).aggregate(
                n=Sum("failures_since_start"), last=Max("attempt_time")
            )
            remaining = (seen["last"] + cool_off - now).total_seconds() if seen["last"] else 0
            if (seen["n"] or 0) >= limit and remaining > 0:
                conn.set(_key("locked", field, value), "1", px=int(remaining * 1000))
    except RedisError as error:
        log.warning("lockout not mirrored in Redis (%s): axes still enforces it", error)


@receiver(post_delete, sender=AccessAttempt, dispatch_uid="galactic-login-gate-lift")
def lift_lockout(sender: type, instance: AccessAttempt, **kwargs) -> None:
    """An operator deleted an access attempt (the admin, `axes_reset`): lift its mirror at once."""
    keys = [_key("locked", field, getattr(instance, field)) for field in FIELDS if getattr(instance, field)]
    with contextlib.suppress(RedisError):
        if keys:
            queue.get_connection().delete(*keys)
