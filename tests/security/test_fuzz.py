"""Fuzz the JSON API from its own OpenAPI schema (schemathesis, in process through the WSGI app).

Every operation of /api/openapi.json (new ones join by themselves) gets schema-conforming and
schema-violating requests
(wrong types, missing fields, out-of-range numbers, bodies that are not JSON objects, strange
media types), sent with a real player's token. Most ids are aimed at real objects (the player's
own, another player's, an NPC base's, those earlier requests created), and fleet orders at real
ship types, so the requests reach ownership checks, stock checks and successful dispatches, not
only "not found".

For every request:
- no 5xx, ever;
- every non-2xx answer is the API's JSON error: exactly `error`, `detail` and `fields`;
- a refused request (4xx) and any GET change nothing: no planet, fleet, probe mission or NPC
  base row, not the number of reports, notices or players, not the queue.

Then the requests the schema does not describe: other paths and methods, forged credentials,
bodies of every size around API_MAX_BODY_BYTES and far beyond, and bodies of other media types.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from combat.models import NpcBase, Report
from fleets.models import Fleet
from galactic.events import queue
from galactic.models import Planet, Player
from galactic.ships import RESOURCES, SHIPS
from galactic.wsgi import application
from probes.models import Notice, ProbeMission

from .conftest import World

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = 40  # per operation, both generation modes together


# Loaded once, at collection, from the app itself (no server). Not through
# `schemathesis.pytest.from_fixture`: its lazy loader rewrites `Node._nodeid`, which pytest 9 no
# longer has.
schema = schemathesis.openapi.from_wsgi("/api/openapi.json", application)
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
    max_examples=MAX_EXAMPLES,
    with_security_parameters=False,  # the token is the real one, sent by the test
    deterministic=True,  # the same requests on every run: a failure can be replayed
)


ID_PARAMETERS = {"planet_id": Planet, "fleet_id": Fleet, "probe_id": ProbeMission, "report_id": Report}
SOME = st.one_of(st.integers(1, 20), st.integers(0, 10**6), st.integers(-(2**70), 2**70))
REAL_SHIPS = st.dictionaries(st.sampled_from(list(SHIPS)), SOME, min_size=1, max_size=3)
REAL_CARGO = st.dictionaries(st.sampled_from(list(RESOURCES)), SOME, max_size=3)


def aimed(data: st.DataObject, generated: Any, real: list | st.SearchStrategy) -> Any:
    """Mostly one of the real values, else the generated one (real ones first: Hypothesis favours
    the first branch of one_of, and shrinks towards it)."""
    real = real if isinstance(real, st.SearchStrategy) else st.sampled_from(real)
    return data.draw(st.one_of(real, real, st.just(generated)))


def aim(case: schemathesis.Case, data: st.DataObject, player: Player) -> None:
    """Point part of the generated requests at objects that exist now: the player's own, another
    player's, an NPC base, and whatever earlier requests created."""
    for name, model in ID_PARAMETERS.items():
        if name in (case.path_parameters or {}):
            real = sorted(model.objects.values_list("pk", flat=True))
            case.path_parameters[name] = aimed(data, case.path_parameters[name], real)
    if case.method.upper() != "POST" or not isinstance(case.body, dict):
        return
    planets = sorted(Planet.objects.values_list("pk", flat=True))
    own = sorted(Planet.objects.filter(owner=player).values_list("pk", flat=True))
    if "origin" in case.body:  # mostly the player's own: the rest of the order gets checked
        real = st.sampled_from(own) | st.sampled_from(planets)
        case.body["origin"] = aimed(data, case.body["origin"], real)
    if "target" in case.body:
        others = [pk for pk in planets if pk != case.body.get("origin")]
        case.body["target"] = aimed(data, case.body["target"], others)
    if "ships" in case.body:
        case.body["ships"] = aimed(data, case.body["ships"], REAL_SHIPS)
    if "cargo" in case.body:
        case.body["cargo"] = aimed(data, case.body["cargo"], REAL_CARGO)
    if "mission" in case.body:
        case.body["mission"] = aimed(data, case.body["mission"], ["attack", "transport"])
    for key in ("speed", "count"):
        if key in case.body:
            case.body[key] = aimed(data, case.body[key], [1, 10, 50, 100])


def snapshot() -> dict:
    """Everything a refused request must leave as it was."""
    stats = queue.get_queue_stats()
    return {
        "planets": list(Planet.objects.order_by("pk").values_list()),
        "fleets": list(Fleet.objects.order_by("pk").values_list()),
        "probe missions": list(ProbeMission.objects.order_by("pk").values_list()),
        "reports": Report.objects.count(),
        "notices": Notice.objects.count(),
        "npc bases": list(NpcBase.objects.order_by("pk").values_list()),
        "players": Player.objects.count(),
        "queue": (stats.waiting, stats.delayed),
    }


def assert_error_format(response) -> None:
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(f"{response.status_code} answer is not JSON: {response.text[:300]!r}") from None
    assert isinstance(body, dict) and set(body) == {"error", "detail", "fields"}, body
    assert isinstance(body["error"], str) and isinstance(body["detail"], str), body
    assert isinstance(body["fields"], dict), body


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)  # every request commits, as in production
@schema.parametrize()
@schema.given(data=st.data())
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_the_api_withstands_fuzzing(case: schemathesis.Case, data: st.DataObject, world: World):
    assert not connection.in_atomic_block  # each request commits (and enqueues) as in production
    aim(case, data, world.alice.player)
    before = snapshot()
    response = case.call(headers={"Authorization": f"Token {world.alice.token}"})

    assert response.status_code < 500, (case.as_curl_command(), response.text[:2000])
    case.validate_response(response, checks=[not_a_server_error])
    if not 200 <= response.status_code < 300:
        assert_error_format(response)
    if response.status_code >= 400 or case.method.upper() == "GET":
        assert snapshot() == before, (case.as_curl_command(), response.status_code, response.text[:500])


# --------------------------------------------------------------------------------------------------
# Requests the schema does not describe: other paths, other methods, forged credentials.


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/api/", 404),
        ("get", "/api/nothing-here", 404),
        ("get", "/api/fleets/", 404),  # a trailing slash
        ("get", "/api/fleets/1%2F2", 404),
        ("post", "/api/fleets/1/nothing", 404),
        ("put", "/api/fleets", 405),
        ("delete", "/api/fleets/1", 405),
        ("patch", "/api/planets/1", 405),
        ("options", "/api/probes", 405),
        ("get", "/api/fleets/1e3", 400),
        ("get", "/api/reports/%00", 400),
        ("get", f"/api/planets/{10**30}", 404),
    ],
)
def test_requests_outside_the_schema_answer_json_errors(client, world: World, method, path, status):
    before = snapshot()
    response = getattr(client, method)(path, headers={"Authorization": f"Token {world.alice.token}"})
    assert response.status_code == status, response.content
    assert_error_format(response)
    assert snapshot() == before


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Token \x00"},
        {"Authorization": "Token " + "a" * 100_000},
        {"Authorization": "token lowercase"},
        {"Authorization": "Bearer x"},
        {"Authorization": "Basic YTpi"},
        {"Cookie": 'sessionid="abcdefgh\\000ijklmn"'},  # unquotes to a NUL: PostgreSQL refuses it
        {"Cookie": "sessionid=" + "x" * 10_000},
        {"Cookie": "sessionid=notasession; csrftoken=x"},
    ],
    ids=["nul-token", "long-token", "lowercase", "bearer", "basic", "nul-session", "long-session", "junk"],
)
@pytest.mark.parametrize("path", ["/api/fleets", "/api/planets/1", "/api/probes/notices"])
def test_forged_credentials_answer_401(client, world: World, headers, path):
    response = client.get(path, headers=headers)
    assert response.status_code == 401, response.content
    assert response.json()["error"] == "unauthenticated"


# --------------------------------------------------------------------------------------------------
# Bodies the schema does not describe: too large, or not JSON. Every POST operation of the schema.

POST_PATHS = sorted(path for path, operations in schema.raw_schema["paths"].items() if "post" in operations)
BODY_PATHS = [path for path in POST_PATHS if "requestBody" in schema.raw_schema["paths"][path]["post"]]


def post_path(template: str, world: World) -> str:
    """The path with the player's own objects in it, so that only the body can be wrong."""
    return template.format(fleet_id=world.mine.fleets[-1], probe_id=world.mine.probes[0])


def padded(size: int) -> bytes:
    start = b'{"origin": 1, "target": 2, "pad": "'
    return start + b"x" * max(0, size - len(start) - 2) + b'"}'


def test_the_fuzzed_posts_are_every_write():
    assert POST_PATHS == ["/api/fleets", "/api/fleets/{fleet_id}/recall", "/api/probes"]
    assert BODY_PATHS == ["/api/fleets", "/api/probes"]  # a recall reads no body


@pytest.mark.django_db(transaction=True)
@given(data=st.data())
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_bodies_of_any_size_near_the_limit_are_read_or_refused_with_413(data, world: World, client):
    limit = django_settings.API_MAX_BODY_BYTES
    size = data.draw(st.integers(limit - 64, limit + 64) | st.integers(limit, 3 * 1024 * 1024))
    template = data.draw(st.sampled_from(POST_PATHS))
    before = snapshot()
    body = padded(size)
    response = client.post(
        post_path(template, world),
        body,
        content_type="application/json",
        headers={"Authorization": f"Token {world.alice.token}"},
    )
    assert (response.status_code == 413) == (len(body) > limit), (len(body), response.status_code)
    if response.status_code >= 400:  # (a recall reads no body: under the limit, it may go through)
        assert_error_format(response)
        assert snapshot() == before


@pytest.mark.parametrize("template", BODY_PATHS)
@pytest.mark.parametrize(
    "media_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", "image/png"]
)
def test_bodies_of_other_media_types_get_415(client, world: World, template, media_type):
    before = snapshot()
    response = client.post(
        post_path(template, world),
        b'{"origin": 1, "target": 2, "count": 1}',
        content_type=media_type,
        headers={"Authorization": f"Token {world.alice.token}"},
    )
    assert response.status_code == 415, response.content
    assert_error_format(response)
    assert snapshot() == before
