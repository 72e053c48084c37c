"""Operators see the events that are late past STUCK_EVENT_SECONDS and can unstick them from the admin:
process now, requeue, or (fleet arrivals) send the fleet home. And the game models' admin lists."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from combat.models import Report
from combat.services import npc_seed
from fleets import jobs, schedules
from fleets.models import Fleet
from fleets.services import fleet_dispatch
from galactic.events import queue, stuck

pytestmark = pytest.mark.django_db(transaction=True)  # on_commit scheduling runs as in production

PAGE = "/admin/stuck-events/"


def dispatch_attack(make_player, name: str = "alice") -> Fleet:
    attacker = make_player(name)
    npc = npc_seed(count=1)[0]
    return fleet_dispatch(
        player=attacker.player,
        origin_id=attacker.home.pk,
        target_id=npc.planet_id,
        mission="attack",
        ships={"battleship": 10},
        cargo={},
    )


def make_overdue(fleet: Fleet, by: timedelta) -> None:
    now = timezone.now()
    Fleet.objects.filter(pk=fleet.pk).update(
        depart_at=now - by - timedelta(hours=1), arrive_at=now - by, return_at=now - by + timedelta(hours=1)
    )


@pytest.fixture
def stuck_fleet(make_player, redis_conn) -> Fleet:
    """An attack whose arrival is 10 minutes overdue, and whose job Redis has lost."""
    fleet = dispatch_attack(make_player)
    make_overdue(fleet, timedelta(minutes=10))
    redis_conn.flushdb()
    return fleet


def post(client, action: str, job_id: str):
    return client.post(PAGE, {"action": action, "job_id": job_id}, follow=True)


def messages_of(response) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in response.context["messages"]]


def test_admin_index_links_to_the_stuck_events(staff_client, redis_conn):
    page = staff_client.get("/admin/").content.decode()
    assert f'<a href="{PAGE}">Stuck events</a>' in page


def test_an_overdue_arrival_with_no_job_shows_as_missing(staff_client, stuck_fleet):
    response = staff_client.get(PAGE)
    assert response.status_code == 200
    [row] = response.context["stuck"].events
    assert row.event.job_id == schedules.arrival_job_id(stuck_fleet.pk)
    assert (row.type, row.status, row.action.label) == ("fleet-arrival", "missing", "Send the fleet home")
    assert timedelta(minutes=10) <= row.late < timedelta(minutes=11)
    page = response.content.decode()
    assert f"<code>fleet-arrival-{stuck_fleet.pk}</code>" in page
    assert '<td class="job-status">missing</td>' in page
    assert "10 min" in page


def test_events_late_by_less_than_the_threshold_are_not_stuck(
    staff_client, make_player, redis_conn, settings
):
    fleet = dispatch_attack(make_player)
    make_overdue(fleet, timedelta(seconds=30))
    assert staff_client.get(PAGE).context["stuck"].total == 0
    assert schedules.arrival_job_id(fleet.pk) not in staff_client.get(PAGE).content.decode()

    settings.STUCK_EVENT_SECONDS = 10
    assert [row.event.job_id for row in staff_client.get(PAGE).context["stuck"].events] == [
        schedules.arrival_job_id(fleet.pk)
    ]


def test_process_now_applies_the_arrival_once(staff_client, stuck_fleet):
    job_id = schedules.arrival_job_id(stuck_fleet.pk)
    response = post(staff_client, "process", job_id)
    assert messages_of(response) == [("success", f"{job_id}: processed")]
    stuck_fleet.refresh_from_db()
    assert stuck_fleet.status != Fleet.Status.OUTBOUND
    assert Report.objects.filter(fleet=stuck_fleet).count() == 1
    assert response.context["stuck"].total == 0

    again = post(staff_client, "process", job_id)
    assert messages_of(again) == [("info", f"{job_id}: not a stuck event (any more); nothing done")]
    assert Report.objects.count() == 1


def test_process_now_on_an_event_done_meanwhile_changes_nothing(stuck_fleet):
    [row] = stuck.stuck_events().events  # the event as the page showed it
    first = stuck.process_now(row.event)
    second = stuck.process_now(row.event)  # a stale page: the handler finds the work done
    assert (first.text, second.text) == (
        f"{row.event.job_id}: processed",
        f"{row.event.job_id}: nothing to do: the handler found it already done",
    )
    assert Report.objects.count() == 1


def test_requeue_writes_the_job_due_now_and_leaves_a_live_one_alone(staff_client, stuck_fleet):
    job_id = schedules.arrival_job_id(stuck_fleet.pk)
    response = post(staff_client, "requeue", job_id)
    assert messages_of(response) == [("success", f"{job_id}: requeued, due now")]
    assert queue.job_status(job_id) == "queued"
    assert '<td class="job-status">queued</td>' in response.content.decode()

    again = post(staff_client, "requeue", job_id)
    assert messages_of(again) == [("info", f"{job_id}: a live job exists (queued); left alone")]
    assert queue.get_queue_stats().waiting == 1


def test_send_home_turns_the_fleet_around(staff_client, stuck_fleet):
    job_id = schedules.arrival_job_id(stuck_fleet.pk)
    response = post(staff_client, "extra", job_id)
    [(level, text)] = messages_of(response)
    assert level == "success" and text.startswith(f"{job_id}: fleet {stuck_fleet.pk} sent home")
    stuck_fleet.refresh_from_db()
    assert stuck_fleet.status == Fleet.Status.RETURNING
    assert stuck_fleet.report is None and not Report.objects.exists()  # no battle on the way home
    assert queue.job_status(schedules.return_job_id(stuck_fleet.pk)) in ("queued", "scheduled")


def test_an_event_that_is_not_stuck_is_left_to_the_workers(staff_client, make_player, redis_conn):
    fleet = dispatch_attack(make_player)  # arrives hours from now
    for action in ("process", "requeue", "extra"):
        response = post(staff_client, action, schedules.arrival_job_id(fleet.pk))
        assert messages_of(response)[0][0] == "info"
    fleet.refresh_from_db()
    assert fleet.status == Fleet.Status.OUTBOUND and not Report.objects.exists()
    assert messages_of(post(staff_client, "explode", "x"))[0] == ("error", "unknown action 'explode'")


@pytest.mark.parametrize("who", ["anonymous", "player"])
def test_outsiders_are_sent_to_the_login_page(client, make_player, stuck_fleet, who):
    if who == "player":
        client.force_login(make_player("mallory").player.user)
    for response in (
        client.get(PAGE),
        client.post(PAGE, {"action": "process", "job_id": schedules.arrival_job_id(stuck_fleet.pk)}),
        client.post(PAGE, {"action": "requeue", "job_id": schedules.arrival_job_id(stuck_fleet.pk)}),
    ):
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    stuck_fleet.refresh_from_db()
    assert stuck_fleet.status == Fleet.Status.OUTBOUND
    assert queue.job_status(schedules.arrival_job_id(stuck_fleet.pk)) is None


def test_actions_need_the_csrf_token(stuck_fleet):
    client = Client(enforce_csrf_checks=True)
    client.force_login(get_user_model().objects.create_user("ops", password="pw", is_staff=True))
    response = client.post(PAGE, {"action": "process", "job_id": schedules.arrival_job_id(stuck_fleet.pk)})
    assert response.status_code == 403
    stuck_fleet.refresh_from_db()
    assert stuck_fleet.status == Fleet.Status.OUTBOUND


# --------------------------------------------------------------------------------------------------
# The game models in the admin: lists to search and filter, no hand edits, "send home" on fleets


def test_fleet_admin_sends_outbound_fleets_home_and_warns_about_the_others(
    staff_client, make_player, redis_conn
):
    outbound = dispatch_attack(make_player, "alice")
    # Still in flight when bob lands on the same base (an earlier arrival there would land first).
    later = timezone.now() + timedelta(hours=1)
    Fleet.objects.filter(pk=outbound.pk).update(arrive_at=later, return_at=later + timedelta(hours=1))
    landed = dispatch_attack(make_player, "bob")
    jobs.fleet_arrival(landed.pk)  # now returning: cannot be recalled
    response = staff_client.post(
        "/admin/fleets/fleet/",
        {"action": "send_home", "_selected_action": [outbound.pk, landed.pk]},
        follow=True,
    )
    [(level_1, text_1), (level_2, text_2)] = messages_of(response)
    assert level_1 == "success" and text_1.startswith(f"fleet #{outbound.pk}: sent home, lands at ")
    assert (level_2, text_2) == (
        "warning",
        f"fleet #{landed.pk}: only an outbound fleet can be recalled; this one is returning",
    )
    outbound.refresh_from_db()
    assert outbound.status == Fleet.Status.RETURNING


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/admin/galactic/player/", {"q": "alice", "user__is_active__exact": "1"}),
        ("/admin/galactic/planet/", {"q": "alice", "galaxy": "1"}),
        ("/admin/combat/npcbase/", {"q": "NPC", "state__exact": "active", "tier__exact": "1"}),
        ("/admin/combat/report/", {"q": "alice", "kind__exact": "battle"}),
        ("/admin/fleets/fleet/", {"q": "alice", "status__exact": "outbound", "next_event": "overdue"}),
        ("/admin/probes/probemission/", {"q": "alice", "status__exact": "outbound"}),
        ("/admin/probes/notice/", {"q": "alice"}),
    ],
)
def test_game_model_lists_search_and_filter_but_refuse_hand_edits(staff_client, stuck_fleet, path, query):
    assert staff_client.get(path, query).status_code == 200
    assert staff_client.get(path + "add/").status_code == 403  # only services write


def test_a_fleet_reads_in_the_admin_but_cannot_be_edited_or_deleted(staff_client, stuck_fleet):
    change = f"/admin/fleets/fleet/{stuck_fleet.pk}/change/"
    assert staff_client.get(change).status_code == 200
    assert staff_client.post(change, {"status": "completed"}).status_code == 403
    assert (
        staff_client.post(f"/admin/fleets/fleet/{stuck_fleet.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    assert Fleet.objects.get(pk=stuck_fleet.pk).status == Fleet.Status.OUTBOUND
