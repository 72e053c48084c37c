"""Reports: the list a player may read (GET /api/reports), unread marks, and battle replays."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from combat.models import Report
from combat.services import npc_seed
from fleets import jobs
from fleets.services import fleet_dispatch
from probes.services import probe_dispatch, probe_missions_advance

pytestmark = pytest.mark.django_db


def send(player, target_id: int, mission: str, ships: dict[str, int], cargo=None, at=None):
    fleet = fleet_dispatch(
        player=player.player,
        origin_id=player.home.pk,
        target_id=target_id,
        mission=mission,
        ships=ships,
        cargo=cargo or {},
    )
    if at is not None:
        type(fleet).objects.filter(pk=fleet.pk).update(depart_at=at, arrive_at=at, return_at=at)
    jobs.fleet_arrival(fleet.pk)
    fleet.refresh_from_db()
    return fleet


@pytest.fixture
def inbox(make_player):
    """Bob's planet received an attack, a delivery and discovered spies; alice sent the attack."""
    alice, bob, carol = make_player("alice"), make_player("bob"), make_player("carol")
    now = timezone.now()
    attack = send(alice, bob.home.pk, "attack", {"cruiser": 20}, at=now - timedelta(minutes=3))
    delivery = send(
        carol, bob.home.pk, "transport", {"small_cargo": 1}, {"metal": 100}, at=now - timedelta(minutes=2)
    )
    spies = probe_dispatch(player=carol.player, origin_id=carol.home.pk, target_id=bob.home.pk, count=1)
    probe_missions_advance(now=spies.arrive_at)
    spies.refresh_from_db()
    assert spies.discovered  # 1 probe against bob's fleet: c = 100
    return {
        "alice": alice,
        "bob": bob,
        "carol": carol,
        "attack": attack,
        "delivery": delivery,
        "spies": spies,
    }


def test_a_player_lists_what_happened_to_their_planets_newest_first(inbox, api_client):
    bob = api_client(inbox["bob"])

    page = bob.get("/api/reports").json()

    assert page["count"] == 3
    assert [item["kind"] for item in page["items"]] == ["espionage", "delivery", "battle"]
    assert [item["id"] for item in page["items"]] == [
        inbox["spies"].report_id,
        inbox["delivery"].report_id,
        inbox["attack"].report_id,
    ]
    assert all(item["unread"] for item in page["items"])
    battle = page["items"][2]
    assert battle["outcome"] and battle["seed"] and battle["forces"]["attacker"]["ships"] == {"cruiser": 20}


def test_kind_limit_and_offset_select_a_page(inbox, api_client):
    bob = api_client(inbox["bob"])
    assert [i["kind"] for i in bob.get("/api/reports", kind="delivery").json()["items"]] == ["delivery"]
    page = bob.get("/api/reports", limit=1, offset=1).json()
    assert page["count"] == 3 and [i["kind"] for i in page["items"]] == ["delivery"]
    assert api_client(inbox["alice"]).get("/api/reports").json()["count"] == 1  # her own attack only


@pytest.mark.parametrize("query", [{"kind": "gossip"}, {"limit": 0}, {"limit": 101}, {"offset": -1}])
def test_a_bad_query_is_refused(inbox, api_client, query):
    response = api_client(inbox["bob"]).get("/api/reports", **query)
    assert response.status_code == 400 and response.json()["error"] == "invalid"


def test_opening_a_report_marks_it_read_for_that_reader_only(inbox, api_client):
    report_id = inbox["attack"].report_id
    assert api_client(inbox["bob"]).get(f"/api/reports/{report_id}").json()["unread"] is True

    unread = {i["id"]: i["unread"] for i in api_client(inbox["bob"]).get("/api/reports").json()["items"]}
    assert unread[report_id] is False and sum(unread.values()) == 2
    assert api_client(inbox["alice"]).get("/api/reports").json()["items"][0]["unread"] is True


def test_no_list_without_credentials(client):
    assert client.get("/api/reports").status_code == 401


def test_every_battle_report_replays(inbox, make_player, capsys):
    dave = make_player("dave")
    for npc in npc_seed(count=3):  # one battle of each tier, with technology on both sides
        send(dave, npc.planet_id, "attack", {"battleship": 3, "cruiser": 6})
    replayable = Report.objects.filter(forces__isnull=False)
    assert replayable.filter(kind="battle").count() == 4 and replayable.filter(kind="espionage").count() == 1

    for report in replayable:
        call_command("replay_battle", str(report.pk))
        assert capsys.readouterr().out.strip().endswith("the replay matches the report")


def test_a_report_that_does_not_replay_exits_1(inbox, capsys):
    report = Report.objects.get(pk=inbox["attack"].report_id)
    report.data["rounds"] += 1
    report.save()

    with pytest.raises(CommandError, match="differs from report") as error:
        call_command("replay_battle", str(report.pk))
    assert error.value.returncode == 1
    assert "rounds   DIFFERS" in capsys.readouterr().out


@pytest.mark.parametrize("which", ["delivery", "missing"])
def test_what_holds_no_battle_cannot_be_replayed(inbox, which):
    report_id = inbox["delivery"].report_id if which == "delivery" else 10**9
    with pytest.raises(CommandError):
        call_command("replay_battle", str(report_id))
