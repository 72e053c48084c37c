"""POST/GET /api/probes, /api/probes/notices and espionage reports over HTTP with a player's token."""

from __future__ import annotations

import pytest

from galactic.models import Planet
from galactic.ships import SHIPS
from probes.models import ProbeMission
from probes.services import probe_missions_advance

pytestmark = pytest.mark.django_db

NO_PRODUCTION = {"metal_per_hour": 0, "crystal_per_hour": 0, "deuterium_per_hour": 0}
NO_SHIPS = dict.fromkeys(SHIPS, 0)


@pytest.fixture(autouse=True)
def universe_speed(settings):
    settings.GAME_SPEED = 1


@pytest.fixture
def alice(make_player):
    return make_player("alice", **NO_PRODUCTION)


@pytest.fixture
def bob(make_player):
    return make_player("bob", **NO_PRODUCTION)


def launch(api_client, sender, target, count=3, **extra):
    body = {"origin": sender.home.pk, "target": target.home.pk, "count": count, **extra}
    return api_client(sender).post("/api/probes", body)


def test_post_launches_and_get_shows_the_mission(api_client, alice, bob):
    response = launch(api_client, alice, bob, count=3, speed=50)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "outbound" and body["count"] == 3 and body["launched"] == 3
    assert body["origin"] == alice.home.pk and body["target"] == bob.home.pk and body["speed"] == 50
    assert body["fuel"] >= 1 and body["discovered"] is None and body["report"] is None
    assert body["depart_at"].endswith("Z") and len(body["arrive_at"]) == len("2026-01-01T00:00:00.000Z")
    assert Planet.objects.get(pk=alice.home.pk).espionage_probe == 17

    detail = api_client(alice).get(f"/api/probes/{body['id']}")
    assert detail.status_code == 200 and detail.json() == body
    listing = api_client(alice).get("/api/probes")
    assert listing.json()["count"] == 1 and listing.json()["items"][0]["id"] == body["id"]


def test_speed_defaults_to_100(api_client, alice, bob):
    response = launch(api_client, alice, bob)
    assert response.status_code == 201 and response.json()["speed"] == 100


def test_after_arrival_the_mission_carries_its_report(api_client, alice, make_player):
    carol = make_player("carol", **NO_PRODUCTION, **NO_SHIPS)  # never discovers
    mission_id = launch(api_client, alice, carol, count=2).json()["id"]
    probe_missions_advance(now=ProbeMission.objects.get(pk=mission_id).arrive_at)

    body = api_client(alice).get(f"/api/probes/{mission_id}").json()
    assert body["status"] == "returning" and body["discovered"] is False
    report = body["report"]
    assert report["kind"] == "espionage" and report["accuracy"] == 0.5
    assert report["sections"] == ["resources", "ships"] and "defences" not in report
    assert api_client(alice).get(f"/api/reports/{report['id']}").json() == {**report, "unread": True}
    # An unseen spy leaves no trace: the target's owner cannot read the report.
    assert api_client(carol).get(f"/api/reports/{report['id']}").status_code == 404
    assert api_client(carol).get("/api/probes/notices").json() == {"items": [], "count": 0}


def test_a_discovered_spy_is_noticed_and_its_report_shown_to_the_owner(api_client, alice, bob):
    mission_id = launch(api_client, alice, bob, count=1).json()["id"]
    probe_missions_advance(now=ProbeMission.objects.get(pk=mission_id).arrive_at)

    body = api_client(alice).get(f"/api/probes/{mission_id}").json()
    assert body["status"] == "destroyed" and body["discovered"] is True and body["count"] == 0
    notices = api_client(bob).get("/api/probes/notices").json()
    assert notices["count"] == 1
    notice = notices["items"][0]
    assert notice["chance"] == 100 and notice["probe_mission"] == mission_id
    assert notice["report"] == body["report"]["id"]
    assert api_client(bob).get(f"/api/reports/{notice['report']}").status_code == 200
    assert api_client(alice).get("/api/probes/notices").json()["count"] == 0


def test_notices_are_newest_first(api_client, alice, bob):
    ids = [launch(api_client, alice, bob, count=1).json()["id"] for _ in range(3)]
    for mission_id in ids:  # one run per arrival, in launch order
        probe_missions_advance(now=ProbeMission.objects.get(pk=mission_id).arrive_at)
    items = api_client(bob).get("/api/probes/notices").json()["items"]
    assert [item["probe_mission"] for item in items] == ids[::-1]


def test_missions_of_others_answer_404(api_client, alice, bob):
    mission_id = launch(api_client, alice, bob).json()["id"]
    for path in (f"/api/probes/{mission_id}", "/api/probes/999999999", f"/api/probes/{2**70}"):
        response = api_client(bob).get(path)
        assert response.status_code == 404, (path, response.content)
    assert api_client(bob).get(f"/api/probes/{mission_id}").json()["error"] == "not_found"
    assert api_client(bob).get("/api/probes").json()["count"] == 0


def test_no_token_answers_401(client, alice, bob):
    before = snapshot()
    for response in (
        client.post("/api/probes", {"origin": 1, "target": 2, "count": 1}, content_type="application/json"),
        client.get("/api/probes/1"),
        client.get("/api/probes/notices"),
        client.get("/api/probes", headers={"Authorization": "Token wrong"}),
    ):
        assert response.status_code == 401
        assert response.json()["error"] == "unauthenticated"
    assert snapshot() == before


def snapshot() -> tuple:
    planets = sorted(Planet.objects.values_list("pk", "espionage_probe", "deuterium"))
    return planets, ProbeMission.objects.count()


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"count": 0}, 400, "count"),
        ({"count": -1}, 400, "count"),
        ({"count": "3"}, 400, "count"),
        ({"count": 1.5}, 400, "count"),
        ({"count": True}, 400, "count"),
        ({"count": 10**12 + 1}, 400, "count"),
        ({"count": None}, 400, "count"),
        ({"speed": 15}, 400, "speed"),
        ({"speed": 0}, 400, "speed"),
        ({"speed": "100"}, 400, "speed"),
        ({"origin": "x"}, 400, "origin"),
        ({"target": 0}, 400, "target"),
        ({"target": "same"}, 400, "target"),
        ({"target": "own"}, 400, "target"),
        ({"target": 10**15}, 404, "target"),
        ({"origin": "bob"}, 404, "origin"),
        ({"count": 21}, 409, "count"),
        ({"deuterium": 0}, 409, "fuel"),
    ],
)
def test_bad_orders_answer_an_error_and_change_nothing(
    api_client, make_player, alice, bob, body, status, field
):
    carol = make_player("carol", **NO_PRODUCTION)
    colony = Planet.objects.create(
        name="colony",
        galaxy=2,
        system=1,
        position=1,
        owner=alice.player,
        resources_at=alice.home.resources_at,
    )
    if "deuterium" in body:
        Planet.objects.filter(pk=alice.home.pk).update(deuterium=body.pop("deuterium"))
    places = {"same": alice.home.pk, "own": colony.pk, "bob": bob.home.pk}
    order = {"origin": alice.home.pk, "target": bob.home.pk, "count": 3, **body}
    if order["origin"] == "bob":
        order["target"] = carol.home.pk  # a real target, so that only the origin is wrong
    order = {
        key: places.get(value, value) if isinstance(value, str) else value for key, value in order.items()
    }
    before = snapshot()

    response = api_client(alice).post("/api/probes", order)

    assert response.status_code == status, response.content
    error = response.json()
    assert set(error) == {"error", "detail", "fields"} and field in error["fields"], error
    assert snapshot() == before


def test_malformed_json_answers_400(api_client, alice):
    response = api_client(alice).post("/api/probes", "{not json")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid"


def test_admin_lists_missions_and_notices(admin_client, api_client, alice, bob):
    mission_id = launch(api_client, alice, bob, count=1).json()["id"]
    probe_missions_advance(now=ProbeMission.objects.get(pk=mission_id).arrive_at)

    for path in ("/admin/probes/probemission/", "/admin/probes/notice/"):
        response = admin_client.get(path, {"q": "bob"})
        assert response.status_code == 200, path
    assert admin_client.get(f"/admin/probes/probemission/{mission_id}/change/").status_code == 200
    assert admin_client.get("/admin/probes/probemission/add/").status_code == 403  # services only
