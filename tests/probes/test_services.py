"""probes.services against the real database: dispatch, arrivals with their reports, discovery, returns."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction

from combat.models import NpcBase, Report
from combat.services import npc_seed
from galactic.errors import Conflict, GameError, Invalid, NotFound
from galactic.models import Planet, Player
from galactic.ships import DEFENCES, SHIPS
from probes.models import Notice, ProbeMission
from probes.services import probe_dispatch, probe_missions_advance

pytestmark = pytest.mark.django_db

NO_PRODUCTION = {"metal_per_hour": 0, "crystal_per_hour": 0, "deuterium_per_hour": 0}
NO_SHIPS = dict.fromkeys(SHIPS, 0)
ONLY_RESOURCES = ["resources"]
ALL_SECTIONS = ["resources", "ships", "defences", "technology"]


@pytest.fixture(autouse=True)
def universe_speed(settings):
    """Flights of tens of seconds: each test picks the run times (`now`) itself."""
    settings.GAME_SPEED = 1


def set_espionage(new, level: int) -> None:
    Player.objects.filter(pk=new.player.pk).update(espionage=level)


def spy(new, target_id: int, count: int) -> ProbeMission:
    return probe_dispatch(player=new.player, origin_id=new.home.pk, target_id=target_id, count=count)


def arrive(mission: ProbeMission) -> ProbeMission:
    """Run probe:update at the arrival time only (the return is not due yet)."""
    probe_missions_advance(now=mission.arrive_at)
    mission.refresh_from_db()
    return mission


# --- accuracy and sections through real arrivals -------------------------------------------------


@pytest.mark.parametrize(
    ("probes", "att", "dfn", "sections"),
    [
        (1, 0, 0, ONLY_RESOURCES),  # S = 1
        (2, 0, 0, ["resources", "ships"]),  # S = 2
        (3, 0, 0, ["resources", "ships", "defences"]),  # S = 3
        (3, 2, 0, ALL_SECTIONS),  # S = 3 + 2*2 = 7
        (10, 0, 3, ONLY_RESOURCES),  # S = 10 - 3*3 = 1
        (4, 1, 2, ["resources", "ships", "defences"]),  # S = 4 - 1 = 3
    ],
)
def test_arrival_reports_the_sections_of_the_rules(make_player, probes, att, dfn, sections):
    alice = make_player("alice", **NO_PRODUCTION)
    bob = make_player("bob", **NO_PRODUCTION, **NO_SHIPS)  # no ships: never discovered
    set_espionage(alice, att)
    set_espionage(bob, dfn)

    mission = arrive(spy(alice, bob.home.pk, probes))

    data = mission.report.data
    assert data["sections"] == sections
    assert data["accuracy"] == len(sections) / 4
    assert data["resources"] == {"metal": 500_000, "crystal": 300_000, "deuterium": 200_000}
    assert ("ships" in data, "defences" in data, "technology" in data) == tuple(
        section in sections for section in ("ships", "defences", "technology")
    )
    if "defences" in data:
        assert data["defences"] == {**dict.fromkeys(DEFENCES, 0), "rocket_launcher": 20, "light_laser": 10}
    if "technology" in data:
        assert data["technology"] == {"weapons": 0, "shielding": 0, "armour": 0, "espionage": dfn}
    assert data["discovered"] is False and data["discovery_chance"] == 0
    assert mission.status == ProbeMission.Status.RETURNING and mission.discovered is False


def test_npc_base_is_spied_with_its_own_levels(make_player):
    alice = make_player("alice", **NO_PRODUCTION)
    set_espionage(alice, 4)
    npc = npc_seed(count=2)[1]  # tier 2: espionage 2
    assert npc.tier == 2

    mission = arrive(spy(alice, npc.planet_id, 3))  # S = 3 + 2*2 = 7; def - att + 1 = -1: chance 0

    data = mission.report.data
    assert data["sections"] == ALL_SECTIONS and data["accuracy"] == 1.0
    assert data["technology"] == {"weapons": 2, "shielding": 2, "armour": 2, "espionage": 2}
    assert data["ships"]["cruiser"] == 5
    assert data["discovery_chance"] == 0 and mission.discovered is False
    assert mission.report.defender is None


def test_resources_are_settled_to_the_arrival_not_to_the_run(make_player):
    alice = make_player("alice", **NO_PRODUCTION)
    bob = make_player("bob", **NO_SHIPS, metal_per_hour=3600, crystal_per_hour=0, deuterium_per_hour=0)
    mission = spy(alice, bob.home.pk, 1)
    resources_at = Planet.objects.get(pk=bob.home.pk).resources_at
    seconds = int((mission.arrive_at - resources_at).total_seconds())

    probe_missions_advance(now=mission.arrive_at + timedelta(hours=5))  # a very late run
    mission.refresh_from_db()

    assert mission.report.data["resources"]["metal"] == 500_000 + seconds
    assert mission.report.at == mission.arrive_at


# --- discovery ------------------------------------------------------------------------------------


def test_many_ships_discover_and_destroy_the_probes_and_notify_the_owner(make_player):
    alice = make_player("alice", **NO_PRODUCTION)
    bob = make_player("bob", **NO_PRODUCTION)  # 210 ships: c = min(100, 100 * 210 // 4) = 100
    ships_before = Planet.objects.get(pk=bob.home.pk).ships

    mission = arrive(spy(alice, bob.home.pk, 1))

    assert mission.discovered is True and mission.discovery_chance == 100
    assert mission.status == ProbeMission.Status.DESTROYED and mission.count == 0
    report = mission.report
    assert report.data["discovered"] is True and report.data["discovery_chance"] == 100
    assert report.data["battle"]["outcome"] == "defender"
    assert report.data["battle"]["losses"]["attacker"] == {"espionage_probe": 1}
    assert report.defender_id == bob.player.pk  # a discovered spy's report is readable by the owner
    notice = Notice.objects.get(player=bob.player)
    assert notice.chance == 100 and notice.probe_mission_id == mission.pk and notice.at == mission.arrive_at
    assert Planet.objects.get(pk=bob.home.pk).ships == ships_before  # probes do no damage


def test_no_ships_means_never_discovered(make_player):
    alice = make_player("alice", **NO_PRODUCTION)
    bob = make_player("bob", **NO_PRODUCTION, **NO_SHIPS)
    missions = [spy(alice, bob.home.pk, 1) for _ in range(10)]

    probe_missions_advance(now=max(m.arrive_at for m in missions))

    assert set(ProbeMission.objects.values_list("discovered", "discovery_chance", "status")) == {
        (False, 0, "returning")
    }
    assert not Notice.objects.exists()
    assert set(Report.objects.values_list("defender", flat=True)) == {None}  # an unseen spy leaves no trace


def test_discovery_chance_follows_the_rules(make_player):
    alice = make_player("alice", **NO_PRODUCTION)
    bob = make_player("bob", **NO_PRODUCTION, **{**NO_SHIPS, "light_fighter": 3})
    set_espionage(bob, 1)

    mission = arrive(spy(alice, bob.home.pk, 4))

    assert mission.discovery_chance == 100 * 3 * 2 // (4 * 4) == 37


def test_discovered_probes_that_survive_return(make_player):
    alice = make_player("alice", **NO_PRODUCTION)
    bob = make_player("bob", **NO_PRODUCTION, **{**NO_SHIPS, "espionage_probe": 100})  # unarmed ships only

    mission = arrive(spy(alice, bob.home.pk, 2))

    assert mission.discovered is True
    assert mission.status == ProbeMission.Status.RETURNING and mission.count == 2
    assert Notice.objects.filter(player=bob.player).count() == 1


def test_discovered_probes_at_an_npc_die_without_notice(make_player):
    alice = make_player("alice", **NO_PRODUCTION)
    npc = npc_seed(count=2)[1]  # tier 2: 60 ships, espionage 2; c = min(100, 100*60*3 // 20) = 100
    mission = arrive(spy(alice, npc.planet_id, 5))

    assert mission.discovered is True and mission.status == ProbeMission.Status.DESTROYED
    assert mission.report.data["sections"] == ONLY_RESOURCES  # S = 5 - 2*2 = 1
    assert not Notice.objects.exists()
    assert NpcBase.objects.get(pk=npc.pk).state == NpcBase.State.ACTIVE


class Rollback(Exception):
    pass


def test_a_retried_arrival_draws_the_same_discovery(make_player):
    alice = make_player("alice", **NO_PRODUCTION, espionage_probe=100)
    bob = make_player("bob", **NO_PRODUCTION, **{**NO_SHIPS, "light_fighter": 2})  # c = 50 for one probe
    missions = [spy(alice, bob.home.pk, 1) for _ in range(30)]
    due = max(m.arrive_at for m in missions)

    def outcomes() -> list:
        return list(ProbeMission.objects.order_by("pk").values_list("discovered", "count", "report__data"))

    with pytest.raises(Rollback), transaction.atomic():
        probe_missions_advance(now=due)
        first = outcomes()
        raise Rollback
    assert not Report.objects.exists()
    probe_missions_advance(now=due)

    assert outcomes() == first
    assert {discovered for discovered, _, _ in first} == {True, False}  # c = 50 gives both


# --- returns and exactly-once ---------------------------------------------------------------------


def test_probes_land_back_on_the_origin(make_player):
    alice = make_player("alice", **NO_PRODUCTION)
    bob = make_player("bob", **NO_PRODUCTION, **NO_SHIPS)
    mission = spy(alice, bob.home.pk, 7)
    home = Planet.objects.get(pk=alice.home.pk)
    assert home.espionage_probe == 13 and home.deuterium == 200_000 - mission.fuel

    counts = probe_missions_advance(now=mission.arrive_at)
    assert counts["arrived"] == 1 and counts["returned"] == 0
    counts = probe_missions_advance(now=mission.return_at)
    assert counts["arrived"] == 0 and counts["returned"] == 1

    mission.refresh_from_db()
    assert mission.status == ProbeMission.Status.COMPLETED and mission.count == 7
    home.refresh_from_db()
    assert home.espionage_probe == 20 and home.deuterium == 200_000 - mission.fuel


def test_one_run_after_the_return_time_arrives_and_lands(make_player):
    alice = make_player("alice", **NO_PRODUCTION)
    bob = make_player("bob", **NO_PRODUCTION, **NO_SHIPS)
    mission = spy(alice, bob.home.pk, 3)

    counts = probe_missions_advance(now=mission.return_at, batch_size=1)

    assert counts == {"batches": 2, "arrived": 1, "discovered": 0, "destroyed": 0, "returned": 1}
    assert Planet.objects.get(pk=alice.home.pk).espionage_probe == 20


def test_advancing_twice_handles_each_mission_once(make_player):
    alice = make_player("alice", **NO_PRODUCTION)
    bob = make_player("bob", **NO_PRODUCTION)
    carol = make_player("carol", **NO_PRODUCTION, **NO_SHIPS)
    missions = [spy(alice, target.home.pk, 2) for target in (bob, carol, bob, carol, carol)]
    end = max(m.return_at for m in missions)

    first = probe_missions_advance(now=end, batch_size=2)
    second = probe_missions_advance(now=end, batch_size=2)

    assert first["arrived"] == 5 and first["destroyed"] == 2 and first["returned"] == 3
    assert second == {"batches": 0, "arrived": 0, "discovered": 0, "destroyed": 0, "returned": 0}
    assert Report.objects.filter(kind="espionage").count() == 5
    assert Notice.objects.count() == 2
    assert Planet.objects.get(pk=alice.home.pk).espionage_probe == 20 - 2 * 2


def test_nothing_due_yet_changes_nothing(make_player):
    alice = make_player("alice", **NO_PRODUCTION)
    bob = make_player("bob", **NO_PRODUCTION)
    mission = spy(alice, bob.home.pk, 1)
    assert mission.arrive_at > mission.depart_at  # a real flight at GAME_SPEED 1

    assert probe_missions_advance(now=mission.depart_at)["batches"] == 0
    mission.refresh_from_db()
    assert mission.status == "outbound" and mission.discovered is None and mission.report is None


# --- dispatch -------------------------------------------------------------------------------------


def test_dispatch_flies_like_a_fleet_of_probes(make_player):
    alice = make_player("alice", **NO_PRODUCTION)  # at 1:1:4
    bob = make_player("bob", **NO_PRODUCTION)  # at 1:1:6: distance 1000 + 5*2 = 1010
    mission = probe_dispatch(
        player=alice.player, origin_id=alice.home.pk, target_id=bob.home.pk, count=10, speed=50
    )
    # (3500 / 0.5 * sqrt(10 * 1010 / 1e8) + 10) / 1 = 7000 * 0.01005 + 10 = 80.35 -> 80 s
    assert (mission.arrive_at - mission.depart_at).total_seconds() == 80
    assert mission.return_at - mission.arrive_at == mission.arrive_at - mission.depart_at
    # 1 * 10 * 1010 / 35000 * 1.5**2 = 0.649... -> at least 1
    assert mission.fuel == 1
    assert (mission.count, mission.launched, mission.status, mission.discovered) == (10, 10, "outbound", None)


def _snapshot() -> tuple:
    planets = sorted(Planet.objects.values_list("pk", "espionage_probe", "deuterium", "metal"))
    return planets, ProbeMission.objects.count()


@pytest.mark.parametrize(
    ("change", "error", "field"),
    [
        ({"count": 0}, Invalid, "count"),
        ({"count": -3}, Invalid, "count"),
        ({"count": 10**12 + 1}, Invalid, "count"),
        ({"count": True}, Invalid, "count"),
        ({"count": 1.0}, Invalid, "count"),
        ({"speed": 0}, Invalid, "speed"),
        ({"speed": 15}, Invalid, "speed"),
        ({"speed": 110}, Invalid, "speed"),
        ({"speed": 50.0}, Invalid, "speed"),
        ({"target_id": "origin"}, Invalid, "target"),
        ({"target_id": "own"}, Invalid, "target"),
        ({"target_id": 10**15}, NotFound, "target"),
        ({"origin_id": "bob"}, NotFound, "origin"),
        ({"origin_id": 10**15}, NotFound, "origin"),
        ({"count": 21}, Conflict, "count"),
        ({"deuterium": 0}, Conflict, "fuel"),
    ],
)
def test_dispatch_refuses_bad_orders_and_changes_nothing(make_player, change, error, field):
    alice = make_player("alice", **NO_PRODUCTION)
    bob = make_player("bob", **NO_PRODUCTION)
    carol = make_player("carol", **NO_PRODUCTION)
    alice_second = Planet.objects.create(
        name="colony",
        galaxy=2,
        system=1,
        position=1,
        owner=alice.player,
        resources_at=alice.home.resources_at,
    )
    places = {"origin": alice.home.pk, "own": alice_second.pk, "bob": bob.home.pk}
    if "deuterium" in change:
        Planet.objects.filter(pk=alice.home.pk).update(deuterium=change.pop("deuterium"))
    order = {"origin_id": alice.home.pk, "target_id": carol.home.pk, "count": 5, "speed": 100, **change}
    order = {
        key: places.get(value, value) if isinstance(value, str) else value for key, value in order.items()
    }
    before = _snapshot()

    with pytest.raises(GameError) as caught:
        probe_dispatch(player=alice.player, **order)

    assert type(caught.value) is error
    assert field in caught.value.fields
    assert _snapshot() == before
