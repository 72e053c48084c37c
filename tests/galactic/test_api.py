"""The read side of the JSON API: planets, the galaxy view, fleets, reports, authentication and the
OpenAPI schema."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from combat.services import npc_seed
from fleets.services import fleet_arrive
from galactic.models import Planet

pytestmark = pytest.mark.django_db

ISO_MS_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
NO_PRODUCTION = {"metal_per_hour": 0, "crystal_per_hour": 0, "deuterium_per_hour": 0}
ERROR_KEYS = {"error", "detail", "fields"}


def parse_iso(text: str) -> datetime:
    assert ISO_MS_UTC.match(text), text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    answer = response.json()
    assert set(answer) == ERROR_KEYS and answer["error"] == code, answer
    return answer


def dispatch(api, origin: int, target: int, mission: str = "transport", **extra) -> dict:
    order = {"origin": origin, "target": target, "mission": mission, "ships": {"light_fighter": 1}, **extra}
    response = api.post("/api/fleets", order)
    assert response.status_code == 201, response.content
    return response.json()


# --- GET /api/planets/<id> ------------------------------------------------------------------------


def test_my_planet_with_resources_settled_to_as_of(make_player, api_client):
    an_hour_ago = timezone.now() - timedelta(hours=1)
    alice = make_player(
        "alice",
        metal=1_000,
        crystal=2_000,
        deuterium=3_000,
        metal_per_hour=1_000,
        crystal_per_hour=500,
        deuterium_per_hour=250,
        resources_at=an_hour_ago,
    )
    row_before = list(Planet.objects.filter(pk=alice.home.pk).values())

    response = api_client(alice).get(f"/api/planets/{alice.home.pk}")

    assert response.status_code == 200, response.content
    planet = response.json()
    assert planet["id"] == alice.home.pk
    assert planet["name"] == "alice's home"
    assert planet["coords"] == str(alice.home.coords)
    assert re.fullmatch(r"\d:\d+:\d+", planet["coords"])
    as_of = parse_iso(planet["as_of"])
    assert abs((as_of - timezone.now()).total_seconds()) < 30
    elapsed = (as_of - an_hour_ago).total_seconds()
    assert 3600 <= elapsed < 3603
    # An hour (and at most a few seconds) of production, at rates that add nothing in a few seconds.
    assert planet["resources"] == {"metal": 2_000, "crystal": 2_500, "deuterium": 3_250}
    assert planet["production"] == {"metal": 1_000, "crystal": 500, "deuterium": 250}
    assert planet["ships"] == {
        "light_fighter": 100,
        "heavy_fighter": 30,
        "cruiser": 20,
        "battleship": 10,
        "small_cargo": 20,
        "large_cargo": 10,
        "espionage_probe": 20,
    }
    assert planet["defences"] == {"rocket_launcher": 20, "light_laser": 10, "heavy_laser": 0}
    # A read settles nothing in the database.
    assert list(Planet.objects.filter(pk=alice.home.pk).values()) == row_before


def test_resources_follow_the_exact_production_formula(make_player, api_client):
    """amount + floor(rate * seconds / 3600), checked against the answer's own as_of."""
    since = timezone.now() - timedelta(hours=5, minutes=17, seconds=23)
    alice = make_player(
        "alice", metal=7, crystal=0, deuterium=0, metal_per_hour=3_600_000, resources_at=since
    )
    planet = api_client(alice).get(f"/api/planets/{alice.home.pk}").json()
    seconds = (parse_iso(planet["as_of"]) - since).total_seconds()
    # as_of is truncated to the millisecond: the server's own instant is at most 1 ms later.
    low = 7 + int(3_600_000 * seconds // 3600)
    assert low <= planet["resources"]["metal"] <= low + 1


def test_someone_elses_planet_is_404(make_player, api_client):
    alice = make_player("alice")
    bob = make_player("bob")
    assert_error(api_client(alice).get(f"/api/planets/{bob.home.pk}"), 404, "not_found")


def test_npc_planet_is_404(make_player, api_client):
    alice = make_player("alice")
    npc = npc_seed(count=1)[0]
    assert_error(api_client(alice).get(f"/api/planets/{npc.planet_id}"), 404, "not_found")


@pytest.mark.parametrize("planet_id", ["999999999", str(10**30), "0", "-1"])
def test_missing_planet_is_404(make_player, api_client, planet_id):
    alice = make_player("alice")
    response = api_client(alice).get(f"/api/planets/{planet_id}")
    assert response.status_code in (400, 404), response.content
    assert set(response.json()) == ERROR_KEYS


def test_planet_id_not_a_number_is_400_or_404(make_player, api_client):
    alice = make_player("alice")
    response = api_client(alice).get("/api/planets/abc")
    assert response.status_code in (400, 404)


def test_planet_needs_credentials(make_player, client):
    alice = make_player("alice")
    assert_error(client.get(f"/api/planets/{alice.home.pk}"), 401, "unauthenticated")


# --- GET /api/galaxy/<g>/<s> ----------------------------------------------------------------------


def test_galaxy_lists_planets_with_owner_names(make_player, api_client):
    alice = make_player("alice")
    bob = make_player("bob")
    npc = npc_seed(count=1)[0]
    elsewhere = Planet.objects.create(
        name="far away", galaxy=3, system=3, position=3, resources_at=timezone.now()
    )
    g, s = alice.home.galaxy, alice.home.system
    assert (bob.home.galaxy, bob.home.system) == (g, s) == (npc.planet.galaxy, npc.planet.system)

    response = api_client(alice).get(f"/api/galaxy/{g}/{s}")

    assert response.status_code == 200, response.content
    view = response.json()
    assert view["galaxy"] == g and view["system"] == s
    planets = {p["id"]: p for p in view["planets"]}
    assert set(planets) == {alice.home.pk, bob.home.pk, npc.planet_id}
    assert elsewhere.pk not in planets
    assert planets[alice.home.pk]["owner"] == "alice"
    assert planets[bob.home.pk]["owner"] == "bob"
    assert planets[bob.home.pk]["coords"] == str(bob.home.coords)
    assert planets[bob.home.pk]["name"] == "bob's home"
    assert planets[npc.planet_id]["owner"] is None
    assert planets[npc.planet_id]["npc"] == {"tier": 1, "state": "active"}
    positions = [int(p["coords"].split(":")[2]) for p in view["planets"]]
    assert positions == sorted(positions)
    # Public view: no stock, ships or defences of anyone.
    for planet in view["planets"]:
        assert not {"resources", "ships", "defences", "metal", "battleship"} & set(planet)


def test_empty_system(make_player, api_client):
    alice = make_player("alice")
    response = api_client(alice).get("/api/galaxy/9/499")
    assert response.status_code == 200
    assert response.json() == {"galaxy": 9, "system": 499, "planets": []}


@pytest.mark.parametrize(
    ("galaxy", "system", "field"),
    [
        ("10", "1", "galaxy"),
        ("0", "1", "galaxy"),
        ("1", "500", "system"),
        ("1", "0", "system"),
        ("-1", "1", "galaxy"),
        (str(10**30), "1", "galaxy"),
        ("1", str(10**30), "system"),
    ],
)
def test_galaxy_out_of_range_is_400(make_player, api_client, galaxy, system, field):
    alice = make_player("alice")
    answer = assert_error(api_client(alice).get(f"/api/galaxy/{galaxy}/{system}"), 400, "invalid")
    assert field in answer["fields"]


def test_galaxy_not_a_number_is_an_error_not_500(make_player, api_client):
    alice = make_player("alice")
    response = api_client(alice).get("/api/galaxy/one/1")
    assert response.status_code in (400, 404)


def test_galaxy_needs_credentials(client):
    assert_error(client.get("/api/galaxy/1/1"), 401, "unauthenticated")


# --- GET /api/fleets, /api/fleets/<id> ------------------------------------------------------------


def test_fleet_list_newest_first_with_count_and_pages(make_player, api_client):
    alice = make_player("alice", **NO_PRODUCTION)
    bob = make_player("bob", **NO_PRODUCTION)
    api = api_client(alice)
    ids = [dispatch(api, alice.home.pk, bob.home.pk)["id"] for _ in range(5)]
    dispatch(api_client(bob), bob.home.pk, alice.home.pk)  # not alice's

    first = api.get("/api/fleets", limit=2)
    assert first.status_code == 200, first.content
    page = first.json()
    assert page["count"] == 5
    assert [f["id"] for f in page["items"]] == ids[::-1][:2]
    assert [f["id"] for f in api.get("/api/fleets", limit=2, offset=2).json()["items"]] == ids[::-1][2:4]
    assert [f["id"] for f in api.get("/api/fleets", limit=2, offset=4).json()["items"]] == ids[:1]
    assert api.get("/api/fleets", offset=10).json() == {"items": [], "count": 5}

    everything = api.get("/api/fleets").json()
    assert [f["id"] for f in everything["items"]] == ids[::-1]
    item = everything["items"][0]
    assert item["origin"] == alice.home.pk and item["status"] == "outbound" and item["report"] is None
    for key in ("depart_at", "arrive_at", "return_at"):
        parse_iso(item[key])


def test_fleet_list_default_page_is_bounded(make_player, api_client):
    alice = make_player("alice", **NO_PRODUCTION)
    bob = make_player("bob", **NO_PRODUCTION)
    api = api_client(alice)
    for _ in range(21):
        dispatch(api, alice.home.pk, bob.home.pk)
    page = api.get("/api/fleets").json()
    assert page["count"] == 21 and len(page["items"]) == 20


def test_fleet_list_empty(make_player, api_client):
    alice = make_player("alice")
    assert api_client(alice).get("/api/fleets").json() == {"items": [], "count": 0}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": -1}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": 10**30}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": "x"}, "offset"),
        ({"offset": 10**30}, "offset"),
    ],
)
def test_fleet_list_bad_page_is_400(make_player, api_client, params, field):
    alice = make_player("alice")
    answer = assert_error(api_client(alice).get("/api/fleets", **params), 400, "invalid")
    assert field in answer["fields"]


def test_someone_elses_fleet_is_404(make_player, api_client):
    alice = make_player("alice", **NO_PRODUCTION)
    bob = make_player("bob", **NO_PRODUCTION)
    fleet = dispatch(api_client(alice), alice.home.pk, bob.home.pk)
    assert api_client(alice).get(f"/api/fleets/{fleet['id']}").status_code == 200
    # Bob is the target, but the fleet is not his.
    assert_error(api_client(bob).get(f"/api/fleets/{fleet['id']}"), 404, "not_found")


@pytest.mark.parametrize("fleet_id", ["999999999", str(10**30)])
def test_missing_fleet_is_404(make_player, api_client, fleet_id):
    alice = make_player("alice")
    response = api_client(alice).get(f"/api/fleets/{fleet_id}")
    assert response.status_code in (400, 404), response.content
    assert set(response.json()) == ERROR_KEYS


def test_fleets_need_credentials(client):
    assert_error(client.get("/api/fleets"), 401, "unauthenticated")
    assert_error(client.get("/api/fleets/1"), 401, "unauthenticated")


# --- GET /api/reports/<id> ------------------------------------------------------------------------


def test_delivery_report_readable_by_sender_and_target_owner_only(make_player, api_client):
    alice = make_player("alice", **NO_PRODUCTION)
    bob = make_player("bob", **NO_PRODUCTION)
    carol = make_player("carol", **NO_PRODUCTION)
    fleet = dispatch(
        api_client(alice), alice.home.pk, bob.home.pk, ships={"small_cargo": 1}, cargo={"metal": 1234}
    )
    assert fleet_arrive(fleet_id=fleet["id"]) is True

    detail = api_client(alice).get(f"/api/fleets/{fleet['id']}").json()
    assert detail["status"] == "returning"
    report = detail["report"]
    assert report["kind"] == "delivery"
    assert report["delivered"] == {"metal": 1234, "crystal": 0, "deuterium": 0}
    assert parse_iso(report["at"]) == parse_iso(detail["arrive_at"])

    for reader in (alice, bob):
        response = api_client(reader).get(f"/api/reports/{report['id']}")
        assert response.status_code == 200, response.content
        assert response.json() == {**report, "unread": True}  # opened for the first time
    assert_error(api_client(carol).get(f"/api/reports/{report['id']}"), 404, "not_found")


def test_battle_report_readable_by_attacker_and_defender(make_player, api_client):
    alice = make_player("alice", **NO_PRODUCTION)
    bob = make_player("bob", **NO_PRODUCTION)
    carol = make_player("carol", **NO_PRODUCTION)
    fleet = dispatch(
        api_client(alice), alice.home.pk, bob.home.pk, mission="attack", ships={"battleship": 10}
    )
    fleet_arrive(fleet_id=fleet["id"])
    report = api_client(alice).get(f"/api/fleets/{fleet['id']}").json()["report"]
    assert report["kind"] == "battle"
    for key in ("outcome", "rounds", "seed", "losses", "loot", "debris"):
        assert key in report
    assert report["forces"]["attacker"]["ships"] == {"battleship": 10}
    for reader in (alice, bob):  # each reader's first opening
        assert api_client(reader).get(f"/api/reports/{report['id']}").json() == {**report, "unread": True}
    assert_error(api_client(carol).get(f"/api/reports/{report['id']}"), 404, "not_found")


def test_npc_battle_report_is_the_attackers_alone(make_player, api_client):
    alice = make_player("alice", **NO_PRODUCTION)
    bob = make_player("bob", **NO_PRODUCTION)
    npc = npc_seed(count=1)[0]
    fleet = dispatch(
        api_client(alice), alice.home.pk, npc.planet_id, mission="attack", ships={"battleship": 10}
    )
    fleet_arrive(fleet_id=fleet["id"])
    report_id = api_client(alice).get(f"/api/fleets/{fleet['id']}").json()["report"]["id"]
    assert api_client(alice).get(f"/api/reports/{report_id}").status_code == 200
    assert_error(api_client(bob).get(f"/api/reports/{report_id}"), 404, "not_found")


@pytest.mark.parametrize("report_id", ["999999999", str(10**30)])
def test_missing_report_is_404(make_player, api_client, report_id):
    alice = make_player("alice")
    response = api_client(alice).get(f"/api/reports/{report_id}")
    assert response.status_code in (400, 404), response.content
    assert set(response.json()) == ERROR_KEYS


def test_reports_need_credentials(client):
    assert_error(client.get("/api/reports/1"), 401, "unauthenticated")


# --- authentication -------------------------------------------------------------------------------


def test_session_auth(make_player, client):
    alice = make_player("alice", **NO_PRODUCTION)
    client.force_login(alice.player.user)
    response = client.get("/api/fleets")
    assert response.status_code == 200, response.content
    assert response.json() == {"items": [], "count": 0}
    assert client.get(f"/api/planets/{alice.home.pk}").status_code == 200


def test_session_dispatch_needs_the_csrf_token(make_player):
    alice = make_player("alice", **NO_PRODUCTION)
    bob = make_player("bob", **NO_PRODUCTION)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice.player.user)
    order = json.dumps(
        {"origin": alice.home.pk, "target": bob.home.pk, "mission": "transport", "ships": {"small_cargo": 1}}
    )
    refused = browser.post("/api/fleets", order, content_type="application/json")
    assert refused.status_code == 403, refused.content
    assert set(refused.json()) == ERROR_KEYS
    assert Planet.objects.get(pk=alice.home.pk).small_cargo == 20

    # The token lives in the session (CSRF_USE_SESSIONS): the players' page carries it.
    page = browser.get("/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    accepted = browser.post(
        "/api/fleets", order, content_type="application/json", headers={"X-CSRFToken": token}
    )
    assert accepted.status_code == 201, accepted.content


def test_session_of_a_user_who_is_not_a_player_is_401(client):
    staff = get_user_model().objects.create_user("operator", password="pw", is_staff=True)
    client.force_login(staff)
    assert_error(client.get("/api/fleets"), 401, "unauthenticated")


def test_rotated_or_bad_token_is_401(make_player, client):
    from galactic.services import player_rotate_token

    alice = make_player("alice")
    headers = {"Authorization": f"Token {alice.token}"}
    assert client.get("/api/fleets", headers=headers).status_code == 200
    new = player_rotate_token(player=alice.player)
    assert_error(client.get("/api/fleets", headers=headers), 401, "unauthenticated")
    assert client.get("/api/fleets", headers={"Authorization": f"Token {new}"}).status_code == 200


# --- OpenAPI --------------------------------------------------------------------------------------


def test_openapi_schema(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    for path in (
        "/api/fleets",
        "/api/fleets/{fleet_id}",
        "/api/planets/{planet_id}",
        "/api/galaxy/{galaxy}/{system}",
        "/api/reports/{report_id}",
    ):
        assert path in schema["paths"], sorted(schema["paths"])
    assert "post" in schema["paths"]["/api/fleets"] and "get" in schema["paths"]["/api/fleets"]
    assert "201" in schema["paths"]["/api/fleets"]["post"]["responses"]


def test_iso_helper_is_utc_with_milliseconds():
    from galactic.http.api import iso

    assert iso(datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)) == "2030-01-02T03:04:05.678Z"
    assert iso(None) is None


def test_api_docs_load_swagger_from_this_server_not_a_cdn(client):
    from django.contrib.staticfiles import finders

    page = client.get("/api/docs").content.decode()
    assert "cdn" not in page.lower()
    for name in ("ninja/swagger-ui-bundle.js", "ninja/swagger-ui.css", "ninja/swagger-ui-init.js"):
        assert f"/static/{name}" in page
        assert finders.find(name), f"{name} is not among the project's static files"


def test_probe_endpoints_are_described_like_the_fleet_endpoints(client):
    schema = client.get("/api/openapi.json").json()
    operations = [
        schema["paths"]["/api/probes"]["post"],
        schema["paths"]["/api/probes"]["get"],
        schema["paths"]["/api/probes/notices"]["get"],
        schema["paths"]["/api/probes/{probe_id}"]["get"],
    ]
    for operation in operations:
        assert operation["summary"] and operation["description"]
        assert {"400", "401", "404"} <= set(operation["responses"])
        success = operation["responses"].get("201") or operation["responses"]["200"]
        assert success["content"]["application/json"]["schema"]["$ref"].startswith("#/components/schemas/")
