"""One player can never read or move another's things, and the operator pages refuse players.

Every read endpoint answers 404 for another player's planet, fleet, probe mission or report (the
same answer as for an id that does not exist), lists never include another's objects, and a
dispatch from another's planet is a 404 that changes nothing. Both ways of authenticating are
covered: the API token and a browser session.
"""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from combat.models import Report
from fleets.models import Fleet
from galactic.events import queue
from galactic.models import Planet
from galactic.services import NewPlayer
from probes.models import Notice, ProbeMission

from .conftest import World

pytestmark = pytest.mark.django_db

DETAIL = {
    "planets": "/api/planets/{}",
    "fleets": "/api/fleets/{}",
    "probes": "/api/probes/{}",
    "reports": "/api/reports/{}",
}
LISTS = {"fleets": "/api/fleets", "probes": "/api/probes", "notices": "/api/probes/notices"}


class Player:
    """Requests as one player, by token or by a logged-in session."""

    def __init__(self, client, player: NewPlayer, how: str) -> None:
        self.client = client
        self.headers = {}
        if how == "token":
            self.headers["Authorization"] = f"Token {player.token}"
        else:
            client.force_login(player.player.user)

    def get(self, path: str, **params: object):
        return self.client.get(path, params, headers=self.headers)

    def post(self, path: str, body: dict):
        return self.client.post(path, json.dumps(body), content_type="application/json", headers=self.headers)


@pytest.fixture(params=["token", "session"])
def as_alice(request, client, world: World) -> Player:
    return Player(client, world.alice, request.param)


def assert_not_found(response, like=None) -> None:
    """A 404 in the API's error format; with `like`, the very answer given for a missing object."""
    assert response.status_code == 404, response.content
    body = response.json()
    assert set(body) == {"error", "detail", "fields"} and body["error"] == "not_found", body
    if like is not None:
        assert body == like.json()


def snapshot() -> dict:
    stats = queue.get_queue_stats()
    return {
        "planets": list(Planet.objects.order_by("pk").values()),
        "fleets": list(Fleet.objects.order_by("pk").values()),
        "probes": list(ProbeMission.objects.order_by("pk").values()),
        "reports": Report.objects.count(),
        "notices": Notice.objects.count(),
        "jobs": (stats.waiting, stats.delayed),
    }


def test_own_objects_are_readable(as_alice, world: World):
    """The control: the same requests on alice's own objects succeed, so a 404 below means "not yours"."""
    for kind, template in DETAIL.items():
        for pk in getattr(world.mine, kind):
            response = as_alice.get(template.format(pk))
            assert response.status_code == 200, (kind, pk, response.content)
            assert response.json()["id"] == pk


MISSING = 10**9  # an id no object has


def test_another_players_objects_answer_404_like_missing_ones(as_alice, world: World):
    for kind, template in DETAIL.items():
        missing = as_alice.get(template.format(MISSING))
        assert_not_found(missing)
        for pk in getattr(world.theirs, kind):
            assert_not_found(as_alice.get(template.format(pk)), like=missing)


def test_a_report_about_your_planet_is_readable_but_the_mission_behind_it_is_not(as_alice, world: World):
    raid_on_alice = Fleet.objects.get(owner=world.bob.player, target=world.alice.home, report__isnull=False)
    assert as_alice.get(f"/api/reports/{raid_on_alice.report_id}").status_code == 200
    assert_not_found(as_alice.get(f"/api/fleets/{raid_on_alice.pk}"))


def test_a_bystander_reads_nothing_of_either(client, world: World):
    carol = Player(client, world.carol, "token")
    for kind, template in DETAIL.items():
        for pk in getattr(world.mine, kind) + getattr(world.theirs, kind):
            assert_not_found(carol.get(template.format(pk)))
    for path in list_operations(client).values():
        assert set(listed_ids(carol, path)) <= {world.carol.home.pk}, path


def list_operations(client) -> dict[str, str]:
    """Every API list (a GET without path parameters), by the kind of object it lists (its last
    path segment: planets, fleets, probes, notices ...), from the schema: a list added later is
    held to the same rule."""
    spec = client.get("/api/openapi.json").json()
    return {
        path.rstrip("/").rsplit("/", 1)[-1]: path
        for path, methods in spec["paths"].items()
        if "get" in methods and "{" not in path
    }


def listed_ids(player: Player, path: str) -> list[int]:
    body = player.get(path, limit=100).json()
    items = body if isinstance(body, list) else body["items"]
    return [item["id"] for item in items]


def test_lists_hold_only_your_own_objects(as_alice, world: World):
    lists = list_operations(as_alice.client)
    assert set(LISTS) <= set(lists)
    for kind, path in lists.items():
        assert hasattr(world.mine, kind), f"GET {path}: which objects does it list?"
        assert sorted(listed_ids(as_alice, path)) == sorted(getattr(world.mine, kind)), path
    notices = as_alice.get(LISTS["notices"]).json()["items"]
    assert notices and all(item["report"] in world.mine.reports for item in notices)


def test_list_items_carry_no_report_of_another(as_alice, world: World):
    for kind in ("fleets", "probes"):
        for item in as_alice.get(LISTS[kind], limit=100).json()["items"]:
            assert item["report"] is None or item["report"]["id"] in world.mine.reports


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/api/fleets",
            {"mission": "transport", "ships": {"small_cargo": 1}, "cargo": {"metal": 10}},
        ),
        ("/api/fleets", {"mission": "attack", "ships": {"light_fighter": 1}}),
        ("/api/probes", {"count": 1}),
    ],
)
def test_dispatch_from_another_players_planet_answers_404_and_changes_nothing(
    as_alice, world: World, path, body
):
    before = snapshot()
    for target in (world.npc.pk, world.carol.home.pk, *world.theirs.planets):
        missing = as_alice.post(path, {**body, "origin": MISSING, "target": target})
        assert_not_found(missing)
        for origin in world.theirs.planets:
            if origin != target:
                response = as_alice.post(path, {**body, "origin": origin, "target": target})
                assert_not_found(response, like=missing)
    assert snapshot() == before


# Path parameters that name an object, and which of a World's lists holds such objects.
ID_PARAMETERS = {"planet_id": "planets", "fleet_id": "fleets", "probe_id": "probes", "report_id": "reports"}


def operations_on_one_object(client) -> list[tuple[str, str, str]]:
    """(method, path template, parameter) of every API operation on one object, from the schema,
    so that an endpoint added later (a recall, a cancel) is held to the same rule."""
    spec = client.get("/api/openapi.json").json()
    found = []
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"].endswith("_id"):
                    found.append((method, path, parameter["name"]))
    return found


def test_every_operation_on_another_players_object_answers_like_a_missing_one(as_alice, world: World):
    operations = operations_on_one_object(as_alice.client)
    reads = {(m, p) for m, p, _ in operations if m == "get"}
    assert reads >= {
        ("get", "/api/planets/{planet_id}"),
        ("get", "/api/fleets/{fleet_id}"),
        ("get", "/api/probes/{probe_id}"),
        ("get", "/api/reports/{report_id}"),
    }
    before = snapshot()
    for method, template, parameter in operations:
        assert parameter in ID_PARAMETERS, f"{method} {template}: which objects does {parameter} name?"
        assert method in ("get", "post"), f"{method} {template}: extend this test"
        send = as_alice.get if method == "get" else lambda path: as_alice.post(path, {})
        missing = send(template.replace(f"{{{parameter}}}", str(MISSING)))
        assert missing.status_code in (400, 404), (method, template, missing.content)
        for pk in getattr(world.theirs, ID_PARAMETERS[parameter]):
            response = send(template.replace(f"{{{parameter}}}", str(pk)))
            assert response.status_code == missing.status_code, (method, template, pk, response.content)
            assert response.json() == missing.json()
    assert snapshot() == before


def test_unknown_body_fields_cannot_claim_another_owner(as_alice, world: World):
    """`owner`, `player` and the like are ignored: the fleet is alice's, from alice's planet."""
    response = as_alice.post(
        "/api/fleets",
        {
            "origin": world.alice.home.pk,
            "target": world.npc.pk,
            "mission": "attack",
            "ships": {"light_fighter": 1},
            "owner": world.bob.player.pk,
            "owner_id": world.bob.player.pk,
            "player": world.bob.player.pk,
        },
    )
    assert response.status_code == 201, response.content
    assert Fleet.objects.get(pk=response.json()["id"]).owner_id == world.alice.player.pk


# --------------------------------------------------------------------------------------------------
# Operator pages

ADMIN_PAGES = [
    "/admin/",
    "/admin/galactic/planet/",
    "/admin/galactic/player/",
    "/admin/fleets/fleet/",
    "/admin/combat/report/",
    "/admin/combat/npcbase/",
    "/admin/probes/probemission/",
    "/admin/auth/user/",
    "/admin/auth/user/1/change/",
]
DASHBOARD_PAGES = [
    "/django-rq/",
    "/django-rq/queues/0/",
    "/django-rq/queues/0/details/",
    "/django-rq/queues/0/finished/",
    "/django-rq/queues/0/failed/",
    "/django-rq/queues/0/scheduled/",
    "/django-rq/queues/0/started/",
    "/django-rq/queues/0/deferred/",
    "/django-rq/queues/0/some-job/",
    "/django-rq/workers/0/",
    "/django-rq/schedulers/0/",
    "/django-rq/queues/confirm-action/0/",
]
# Changing actions: a refused POST must also leave the queue alone.
DASHBOARD_ACTIONS = [
    "/django-rq/queues/0/empty/",
    "/django-rq/queues/0/requeue-all/",
    "/django-rq/queues/0/failed/clear/",
    "/django-rq/queues/0/some-job/delete/",
    "/django-rq/queues/0/some-job/requeue/",
    "/django-rq/queues/0/some-job/enqueue/",
    "/django-rq/queues/0/some-job/stop/",
    "/django-rq/queues/actions/0/",
]
STATS_JSON = ["/django-rq/stats.json", "/django-rq/stats.json/guess/"]


def assert_refused(response, path: str) -> None:
    if response.status_code == 302:
        assert response["Location"].startswith("/admin/login/"), (path, response["Location"])
    else:
        assert response.status_code in (401, 403, 404), (path, response.status_code)


@pytest.fixture(params=["anonymous", "player"])
def outsider(request, client, make_player):
    """An anonymous visitor, or a logged-in player (not staff)."""
    if request.param == "player":
        client.force_login(make_player("mallory").player.user)
    return client


@pytest.mark.parametrize("path", ADMIN_PAGES + DASHBOARD_PAGES)
def test_operator_pages_refuse_outsiders(outsider, redis_conn, path):
    assert_refused(outsider.get(path), path)


def test_dashboard_actions_refuse_outsiders_and_change_nothing(outsider, redis_conn):
    queue.put("tests.jobs.record", job_id="keep-me", at=timezone.now(), args=("keep-me",))
    before = redis_conn.lrange(f"rq:queue:{queue.QUEUE_NAME}", 0, -1)
    for path in DASHBOARD_ACTIONS:
        for send in (outsider.get, outsider.post):
            assert_refused(send(path, {"job_ids": ["keep-me"], "action": "delete"}), path)
    assert redis_conn.lrange(f"rq:queue:{queue.QUEUE_NAME}", 0, -1) == before == [b"keep-me"]


@pytest.mark.parametrize("path", STATS_JSON)
def test_dashboard_stats_json_refuses_outsiders(outsider, redis_conn, path):
    response = outsider.get(path, headers={"Authorization": "Bearer "})
    assert response.status_code == 401, response.content
    assert "queues" not in response.json()


def test_staff_see_the_operator_pages(client, redis_conn):
    """The control: the same pages open for staff, so the refusals above are real refusals."""
    staff = get_user_model().objects.create_user("ops", password="pw", is_staff=True, is_superuser=True)
    client.force_login(staff)
    for path in ADMIN_PAGES + DASHBOARD_PAGES:
        if "some-job" in path or "/1/change/" in path or "confirm-action" in path:
            continue  # no such object: refused for everyone alike
        assert client.get(path).status_code == 200, path
    assert "queues" in client.get(STATS_JSON[0]).json()


@pytest.mark.parametrize("path", ["/admin/", "/django-rq/", "/api/fleets", "/"])
def test_a_forged_session_cookie_is_no_session_anywhere(client, path):
    client.cookies["sessionid"] = "abcdefgh\x00ijklmn"
    assert client.get(path).status_code in (302, 401)
