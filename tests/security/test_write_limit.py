"""A per-player limit on writes (fleet dispatches, probe launches, recalls): past API_WRITE_LIMIT in
API_WRITE_WINDOW seconds, 429 with Retry-After and the API's JSON error. Counted in the real Redis;
when Redis is down, writes go through (the limit fails open) and their events wait for
reconciliation."""

from __future__ import annotations

import pytest

from fleets.models import Fleet
from galactic.events import queue
from galactic.events.reconcile import reconcile
from galactic.models import Planet
from probes.models import ProbeMission
from tests.conftest import wait_for

LIMIT = 3


@pytest.fixture(autouse=True)
def small_limit(settings, redis_conn) -> None:
    settings.API_WRITE_LIMIT = LIMIT
    settings.API_WRITE_WINDOW = 60


def transport(api, sender, receiver):
    return api.post(
        "/api/fleets",
        {
            "origin": sender.home.pk,
            "target": receiver.home.pk,
            "mission": "transport",
            "ships": {"small_cargo": 1},
        },
    )


def probe(api, sender, receiver):
    return api.post("/api/probes", {"origin": sender.home.pk, "target": receiver.home.pk, "count": 1})


@pytest.mark.django_db
def test_writes_past_the_limit_get_429_with_retry_after_and_change_nothing(make_player, api_client):
    alice, bob = make_player("alice"), make_player("bob")
    api = api_client(alice)
    first = transport(api, alice, bob)
    assert first.status_code == 201, first.content
    assert probe(api, alice, bob).status_code == 201
    assert api.post(f"/api/fleets/{first.json()['id']}/recall", {}).status_code == 200
    before = list(Planet.objects.order_by("pk").values_list())

    for refused in (transport(api, alice, bob), probe(api, alice, bob)):
        assert refused.status_code == 429, refused.content
        body = refused.json()
        assert set(body) == {"error", "detail", "fields"} and body["error"] == "too_many_requests", body
        assert 1 <= int(refused["Retry-After"]) <= 60
    assert list(Planet.objects.order_by("pk").values_list()) == before
    assert (Fleet.objects.count(), ProbeMission.objects.count()) == (1, 1)

    assert api.get("/api/fleets").status_code == 200  # reading is not limited
    assert transport(api_client(bob), bob, alice).status_code == 201  # nor is anybody else


@pytest.mark.django_db
def test_the_limit_resets_with_the_window(make_player, api_client, settings):
    settings.API_WRITE_WINDOW = 1
    alice, bob = make_player("alice"), make_player("bob")
    api = api_client(alice)
    statuses = [transport(api, alice, bob).status_code for _ in range(LIMIT + 1)]
    if 429 not in statuses:  # the writes straddled a window's end: one more fills this window
        statuses += [transport(api, alice, bob).status_code for _ in range(LIMIT + 1)]
    assert 429 in statuses
    wait_for(lambda: transport(api, alice, bob).status_code == 201, timeout=5, interval=0.2)


@pytest.mark.django_db
def test_a_limit_of_zero_is_no_limit(make_player, api_client, settings):
    settings.API_WRITE_LIMIT = 0
    alice, bob = make_player("alice"), make_player("bob")
    assert {transport(api_client(alice), alice, bob).status_code for _ in range(LIMIT + 2)} == {201}


@pytest.mark.django_db(transaction=True)
def test_writes_go_through_while_redis_is_down_and_their_events_wait(
    make_player, api_client, settings, redis_conn
):
    alice, bob = make_player("alice"), make_player("bob")
    working = settings.RQ_QUEUES
    settings.RQ_QUEUES = {"game_events": {**working["game_events"], "PORT": 1}}  # nothing listens there
    sent = [transport(api_client(alice), alice, bob) for _ in range(LIMIT + 2)]
    assert [response.status_code for response in sent] == [201] * (LIMIT + 2)
    settings.RQ_QUEUES = working
    assert queue.job_status(f"fleet-arrival-{sent[0].json()['id']}") is None
    assert reconcile().enqueued == LIMIT + 2
