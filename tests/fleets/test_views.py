"""POST /api/fleets: strict validation (every refusal a JSON error that changes nothing) and a
successful dispatch that takes ships, cargo and fuel off the origin and schedules the arrival."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pytest
from django.utils import timezone

from combat.models import Report
from combat.services import npc_seed
from fleets.models import Fleet
from galactic.events import queue
from galactic.flight import distance, fuel_cost
from galactic.models import Planet
from galactic.services import NewPlayer
from galactic.ships import RESOURCES, SHIPS

pytestmark = pytest.mark.django_db

NO_PRODUCTION = {"metal_per_hour": 0, "crystal_per_hour": 0, "deuterium_per_hour": 0}
ISO_MS_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
HUGE = 10**30


@dataclass
class World:
    alice: NewPlayer
    bob: NewPlayer
    second: Planet  # alice's second planet
    npc: Planet


@pytest.fixture
def world(make_player, redis_conn) -> World:
    alice = make_player("alice", **NO_PRODUCTION)
    bob = make_player("bob", **NO_PRODUCTION)
    second = Planet.objects.create(
        name="alice's colony",
        galaxy=2,
        system=7,
        position=9,
        owner=alice.player,
        resources_at=timezone.now(),
    )
    npc = npc_seed(count=1)[0].planet
    return World(alice=alice, bob=bob, second=second, npc=npc)


def snapshot() -> dict:
    """Everything a refused dispatch must leave alone."""
    stats = queue.get_queue_stats()
    return {
        "planets": list(Planet.objects.order_by("pk").values()),
        "fleets": Fleet.objects.count(),
        "reports": Report.objects.count(),
        "jobs": stats.delayed + stats.waiting,
    }


def post_raw(client, token: str | None, data: str | bytes, **headers: str):
    if token is not None:
        headers["Authorization"] = f"Token {token}"
    return client.post("/api/fleets", data, content_type="application/json", headers=headers)


def body(w: World, **changes: object) -> dict:
    """A valid transport order from alice to bob; `changes` replace (or, with None, drop) keys."""
    order = {
        "origin": w.alice.home.pk,
        "target": w.bob.home.pk,
        "mission": "transport",
        "ships": {"small_cargo": 2},
        "cargo": {"metal": 1000},
        "speed": 100,
    }
    for key, value in changes.items():
        if value is DROP:
            order.pop(key)
        else:
            order[key] = value
    return order


DROP = object()

# (id, body built from the world, status, error code, the `fields` key naming the culprit)
Case = tuple[str, Callable[[World], object], int, str, str]

BAD_ORDERS: list[Case] = [
    # ships
    ("unknown ship type", lambda w: body(w, ships={"death_star": 1}), 400, "invalid", "ships.death_star"),
    (
        "defence is not a ship",
        lambda w: body(w, ships={"rocket_launcher": 1}),
        400,
        "invalid",
        "ships.rocket_launcher",
    ),
    ("count 0", lambda w: body(w, ships={"small_cargo": 0}), 400, "invalid", "ships.small_cargo"),
    ("negative count", lambda w: body(w, ships={"small_cargo": -3}), 400, "invalid", "ships.small_cargo"),
    ("count as string", lambda w: body(w, ships={"small_cargo": "5"}), 400, "invalid", "ships.small_cargo"),
    ("count as float", lambda w: body(w, ships={"small_cargo": 5.5}), 400, "invalid", "ships.small_cargo"),
    ("count 5.0", lambda w: body(w, ships={"small_cargo": 5.0}), 400, "invalid", "ships.small_cargo"),
    ("count as bool", lambda w: body(w, ships={"small_cargo": True}), 400, "invalid", "ships.small_cargo"),
    ("count null", lambda w: body(w, ships={"small_cargo": None}), 400, "invalid", "ships.small_cargo"),
    ("no ships", lambda w: body(w, ships={}), 400, "invalid", "ships"),
    ("ships as list", lambda w: body(w, ships=["small_cargo"]), 400, "invalid", "ships"),
    ("huge count", lambda w: body(w, ships={"small_cargo": HUGE}), 400, "invalid", "ships.small_cargo"),
    (
        "more ships than present",
        lambda w: body(w, ships={"small_cargo": 21}),
        409,
        "conflict",
        "ships.small_cargo",
    ),
    # cargo
    (
        "cargo beyond capacity",
        lambda w: body(w, ships={"small_cargo": 1}, cargo={"metal": 5001}),
        409,
        "conflict",
        "cargo",
    ),
    (
        "cargo beyond stock",
        lambda w: body(w, ships={"large_cargo": 10}, cargo={"crystal": 300_001}),
        409,
        "conflict",
        "cargo.crystal",
    ),
    ("unknown resource", lambda w: body(w, cargo={"gold": 5}), 400, "invalid", "cargo.gold"),
    ("negative cargo", lambda w: body(w, cargo={"metal": -1}), 400, "invalid", "cargo.metal"),
    ("cargo as string", lambda w: body(w, cargo={"metal": "100"}), 400, "invalid", "cargo.metal"),
    ("cargo as float", lambda w: body(w, cargo={"metal": 1.5}), 400, "invalid", "cargo.metal"),
    ("huge cargo", lambda w: body(w, cargo={"metal": HUGE}), 400, "invalid", "cargo.metal"),
    ("cargo as list", lambda w: body(w, cargo=[1, 2]), 400, "invalid", "cargo"),
    # speed
    *(
        (f"speed {speed!r}", (lambda s: lambda w: body(w, speed=s))(speed), 400, "invalid", "speed")
        for speed in (0, 5, 15, 110, -10, "fast", "50", 50.0, True, None, HUGE)
    ),
    # mission
    ("mission spy", lambda w: body(w, mission="spy"), 400, "invalid", "mission"),
    ("mission missing", lambda w: body(w, mission=DROP), 400, "invalid", "mission"),
    ("mission as number", lambda w: body(w, mission=1), 400, "invalid", "mission"),
    # origin and target
    (
        "origin not yours",
        lambda w: body(w, origin=w.bob.home.pk, target=w.alice.home.pk),
        404,
        "not_found",
        "origin",
    ),
    (
        "origin an NPC base",
        lambda w: body(w, origin=w.npc.pk, target=w.alice.home.pk),
        404,
        "not_found",
        "origin",
    ),
    ("origin missing", lambda w: body(w, origin=999_999_999), 404, "not_found", "origin"),
    ("target missing", lambda w: body(w, target=999_999_999), 404, "not_found", "target"),
    ("origin equals target", lambda w: body(w, target=w.alice.home.pk), 400, "invalid", "target"),
    (
        "attack on your own planet",
        lambda w: body(w, mission="attack", target=w.second.pk, cargo={}),
        400,
        "invalid",
        "target",
    ),
    ("huge origin id", lambda w: body(w, origin=HUGE), 400, "invalid", "origin"),
    ("huge target id", lambda w: body(w, target=HUGE), 400, "invalid", "target"),
    ("origin 0", lambda w: body(w, origin=0), 400, "invalid", "origin"),
    ("negative target", lambda w: body(w, target=-5), 400, "invalid", "target"),
    ("origin as string", lambda w: body(w, origin=str(w.alice.home.pk)), 400, "invalid", "origin"),
    ("target as float", lambda w: body(w, target=float(w.bob.home.pk)), 400, "invalid", "target"),
    ("origin field missing", lambda w: body(w, origin=DROP), 400, "invalid", "origin"),
    ("target field missing", lambda w: body(w, target=DROP), 400, "invalid", "target"),
    ("ships field missing", lambda w: body(w, ships=DROP), 400, "invalid", "ships"),
    # the body itself
    ("malformed JSON", lambda w: '{"origin": 1, "target":', 400, "invalid", "body"),
    ("not JSON at all", lambda w: "origin=1&target=2", 400, "invalid", "body"),
    ("body a JSON list", lambda w: json.dumps([body(w)]), 400, "invalid", "body"),
    ("body a JSON number", lambda w: "42", 400, "invalid", "body"),
    ("body JSON null", lambda w: "null", 400, "invalid", "body"),
    ("empty body", lambda w: "", 400, "invalid", "body"),
    ("empty object", lambda w: "{}", 400, "invalid", "origin"),
    (
        "number too long to parse",
        lambda w: json.dumps(body(w)).replace('"small_cargo": 2', '"small_cargo": 1' + "0" * 5000),
        400,
        "invalid",
        "body",
    ),
    ("invalid UTF-8", lambda w: b'{"origin": "\xff\xfe"}', 400, "invalid", "body"),
]


@pytest.mark.parametrize(
    ("make_body", "status", "code", "field"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_ORDERS],
)
def test_bad_order_is_refused_and_changes_nothing(
    world, client, django_capture_on_commit_callbacks, make_body, status, code, field
):
    before = snapshot()
    data = make_body(world)
    if not isinstance(data, str | bytes):
        data = json.dumps(data)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post_raw(client, world.alice.token, data)

    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    answer = response.json()
    assert set(answer) == {"error", "detail", "fields"}, answer
    assert answer["error"] == code
    assert isinstance(answer["detail"], str) and answer["detail"]
    assert field in answer["fields"], answer
    assert callbacks == []
    assert snapshot() == before


@pytest.mark.parametrize(
    ("deuterium", "cargo_deuterium"),
    [
        pytest.param(0, 0, id="empty tank"),
        pytest.param(3, 0, id="a little"),
        pytest.param(None, 1, id="cargo"),
    ],
)
def test_not_enough_deuterium(world, client, django_capture_on_commit_callbacks, deuterium, cargo_deuterium):
    """Fuel comes on top of the deuterium carried: both must be in stock."""
    home = world.alice.home
    ships = {"battleship": 10}
    fuel = fuel_cost(ships, distance(home.coords, world.bob.home.coords), 100)
    assert fuel > 3
    if deuterium is None:  # exactly the fuel, so that one more unit of cargo is too much
        deuterium = fuel
    Planet.objects.filter(pk=home.pk).update(deuterium=deuterium)
    before = snapshot()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post_raw(
            client,
            world.alice.token,
            json.dumps(body(world, ships=ships, cargo={"deuterium": cargo_deuterium})),
        )

    assert response.status_code == 409, response.content
    answer = response.json()
    assert answer["error"] == "conflict" and "fuel" in answer["fields"]
    assert callbacks == []
    assert snapshot() == before


def test_exactly_enough_deuterium_is_accepted(world, api_client):
    home = world.alice.home
    ships = {"battleship": 10}
    fuel = fuel_cost(ships, distance(home.coords, world.bob.home.coords), 100)
    Planet.objects.filter(pk=home.pk).update(deuterium=fuel + 7)
    response = api_client(world.alice).post("/api/fleets", body(world, ships=ships, cargo={"deuterium": 7}))
    assert response.status_code == 201, response.content
    assert Planet.objects.get(pk=home.pk).deuterium == 0


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="no header"),
        pytest.param("Token ", id="empty token"),
        pytest.param("Token not-a-token", id="bad token"),
        pytest.param("Bearer {token}", id="wrong scheme"),
        pytest.param("{token}", id="no scheme"),
        pytest.param("token {token}x", id="token with a suffix"),
    ],
)
def test_dispatch_without_valid_credentials_is_401(world, client, authorization):
    before = snapshot()
    headers = {}
    if authorization is not None:
        headers["Authorization"] = authorization.format(token=world.alice.token)
    response = post_raw(client, None, json.dumps(body(world)), **headers)
    assert response.status_code == 401, response.content
    answer = response.json()
    assert answer["error"] == "unauthenticated" and set(answer) == {"error", "detail", "fields"}
    assert snapshot() == before


def test_inactive_user_token_is_401(world, client):
    world.alice.player.user.is_active = False
    world.alice.player.user.save()
    response = post_raw(client, world.alice.token, json.dumps(body(world)))
    assert response.status_code == 401


def test_other_players_token_for_my_origin_is_404(world, client, django_capture_on_commit_callbacks):
    """Bob's token cannot launch from alice's planet: it is not his, so it does not exist."""
    before = snapshot()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post_raw(client, world.bob.token, json.dumps(body(world, target=world.npc.pk)))
    assert response.status_code == 404, response.content
    assert response.json()["error"] == "not_found" and "origin" in response.json()["fields"]
    assert callbacks == []
    assert snapshot() == before


def test_unknown_body_fields_are_ignored(world, api_client, django_capture_on_commit_callbacks):
    order = body(world)
    order.update(
        owner=world.bob.player.pk,
        fuel=0,
        status="completed",
        arrive_at="2000-01-01T00:00:00.000Z",
        depart_at="2000-01-01T00:00:00.000Z",
        id=1,
        report={"id": 1},
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client(world.alice).post("/api/fleets", order)
    assert response.status_code == 201, response.content
    fleet = Fleet.objects.get(pk=response.json()["id"])
    assert fleet.owner_id == world.alice.player.pk
    assert fleet.status == "outbound" and fleet.fuel > 0 and fleet.report_id is None
    assert fleet.depart_at.year == timezone.now().year


def parse_iso(text: str) -> datetime:
    assert ISO_MS_UTC.match(text), text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize(
    ("mission", "target", "ships", "cargo", "speed"),
    [
        pytest.param(
            "transport",
            "bob",
            {"large_cargo": 3, "small_cargo": 1},
            {"metal": 40_000, "crystal": 12_345, "deuterium": 5_000},
            70,
            id="transport",
        ),
        pytest.param(
            "attack",
            "npc",
            {"battleship": 10, "cruiser": 5, "light_fighter": 1},
            {"deuterium": 99},
            100,
            id="attack",
        ),
        pytest.param("attack", "bob", {"espionage_probe": 1}, {}, 10, id="one probe, slowest speed"),
        pytest.param("transport", "second", {"small_cargo": 1}, {"crystal": 5000}, 50, id="to my own colony"),
    ],
)
def test_successful_dispatch(
    world, api_client, django_capture_on_commit_callbacks, mission, target, ships, cargo, speed
):
    home = world.alice.home
    target_planet = {"bob": world.bob.home, "npc": world.npc, "second": world.second}[target]
    before = Planet.objects.get(pk=home.pk)
    target_before = list(Planet.objects.filter(pk=target_planet.pk).values())
    order = {
        "origin": home.pk,
        "target": target_planet.pk,
        "mission": mission,
        "ships": ships,
        "cargo": cargo,
        "speed": speed,
    }
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = api_client(world.alice).post("/api/fleets", order)

    assert response.status_code == 201, response.content
    assert len(callbacks) == 1
    fleet_json = response.json()
    expected_fuel = fuel_cost(ships, distance(home.coords, target_planet.coords), speed)
    full_cargo = {name: cargo.get(name, 0) for name in RESOURCES}
    assert set(fleet_json) >= {
        "id",
        "mission",
        "status",
        "origin",
        "target",
        "ships",
        "cargo",
        "fuel",
        "depart_at",
        "arrive_at",
        "return_at",
        "report",
    }
    assert fleet_json["mission"] == mission
    assert fleet_json["status"] == "outbound"
    assert fleet_json["origin"] == home.pk and fleet_json["target"] == target_planet.pk
    assert fleet_json["ships"] == ships
    assert fleet_json["cargo"] == full_cargo
    assert fleet_json["fuel"] == expected_fuel
    assert fleet_json["speed"] == speed
    assert fleet_json["report"] is None
    depart, arrive, back = (parse_iso(fleet_json[key]) for key in ("depart_at", "arrive_at", "return_at"))
    assert depart < arrive < back
    assert abs((depart - timezone.now()).total_seconds()) < 30
    assert abs((back - arrive) - (arrive - depart)).total_seconds() < 0.002

    fleet = Fleet.objects.get(pk=fleet_json["id"])
    assert fleet.owner_id == world.alice.player.pk and fleet.ships == ships and fleet.fuel == expected_fuel

    after = Planet.objects.get(pk=home.pk)
    for name in SHIPS:
        assert getattr(before, name) - getattr(after, name) == ships.get(name, 0), name
    assert before.metal - after.metal == full_cargo["metal"]
    assert before.crystal - after.crystal == full_cargo["crystal"]
    assert before.deuterium - after.deuterium == full_cargo["deuterium"] + expected_fuel
    assert after.defences == before.defences
    # The target is not touched until the arrival.
    assert list(Planet.objects.filter(pk=target_planet.pk).values()) == target_before

    job_id = f"fleet-arrival-{fleet.pk}"
    assert queue.job_status(job_id) == "scheduled"
    assert queue.get_connection().zscore(queue.get_queue().scheduled_job_registry.key, job_id) == (
        pytest.approx(fleet.arrive_at.timestamp(), abs=0.002)
    )
    stats = queue.get_queue_stats()
    assert stats.delayed == 1 and stats.waiting == 0

    # The fleet reads back the same over GET.
    assert api_client(world.alice).get(f"/api/fleets/{fleet.pk}").json() == fleet_json


def test_every_ship_and_resource_can_leave(world, api_client, django_capture_on_commit_callbacks):
    """Sending the whole stock of a kind is allowed: the planet keeps zero, never less."""
    home = world.alice.home
    ships = {"large_cargo": 10, "small_cargo": 20}
    fuel = fuel_cost(ships, distance(home.coords, world.bob.home.coords), 100)
    cargo = {"metal": 100_000, "crystal": 50_000, "deuterium": home.deuterium - fuel}
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client(world.alice).post("/api/fleets", body(world, ships=ships, cargo=cargo))
    assert response.status_code == 201, response.content
    after = Planet.objects.get(pk=home.pk)
    assert after.large_cargo == 0 and after.small_cargo == 0 and after.deuterium == 0


def test_dispatch_settles_production_before_spending(make_player, api_client, redis_conn):
    """Stock produced since the last settlement can be spent; the row is settled to the dispatch."""
    alice = make_player(
        "alice",
        metal=0,
        metal_per_hour=3600,
        crystal_per_hour=0,
        deuterium_per_hour=0,
        resources_at=timezone.now() - timezone.timedelta(hours=1),
    )
    bob = make_player("bob")
    response = api_client(alice).post(
        "/api/fleets",
        {
            "origin": alice.home.pk,
            "target": bob.home.pk,
            "mission": "transport",
            "ships": {"small_cargo": 1},
            "cargo": {"metal": 3500},
        },
    )
    assert response.status_code == 201, response.content
    home = Planet.objects.get(pk=alice.home.pk)
    assert 100 <= home.metal <= 110
    assert abs((home.resources_at - parse_iso(response.json()["depart_at"])).total_seconds()) < 0.002
