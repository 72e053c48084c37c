"""A batch of arrivals (or returns) in one transaction gives exactly what one transaction per
fleet gives, in arrival order: the GameWorker may batch them (galactic/events/worker.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from combat.models import NpcBase, Report
from combat.services import npc_seed
from fleets import services
from fleets.models import Fleet
from fleets.services import fleet_dispatch
from galactic.events import queue
from galactic.models import Planet
from tests.conftest import fleet_totals

pytestmark = pytest.mark.django_db(transaction=True)

NO_PRODUCTION = {"metal_per_hour": 0, "crystal_per_hour": 0, "deuterium_per_hour": 0}


@pytest.fixture(autouse=True)
def fast_universe(settings):
    settings.GAME_SPEED = 100_000


def launch(player, target_id: int, mission: str, ships: dict[str, int], cargo=None) -> int:
    fleet = fleet_dispatch(
        player=player.player,
        origin_id=player.home.pk,
        target_id=target_id,
        mission=mission,
        ships=ships,
        cargo=cargo or {},
    )
    return fleet.pk


def the_universe() -> dict:
    """Everything an arrival or a return may change (report ids aside: sequences do not roll back)."""
    return {
        "planets": [
            (p.pk, p.resources, p.resources_at, p.ships, p.defences) for p in Planet.objects.order_by("pk")
        ],
        "fleets": [
            (f.pk, f.status, f.ships, f.cargo, f.report_id is not None) for f in Fleet.objects.order_by("pk")
        ],
        "reports": [(r.kind, r.at, r.target_id, r.data) for r in Report.objects.order_by("at", "target_id")],
        "npcs": [(n.pk, n.state, n.respawn_at) for n in NpcBase.objects.order_by("pk")],
    }


def batch_against_one_by_one(run_many, run_one, fleet_ids: list[int], order: list[int]) -> None:
    """Run the batch, note the universe, roll it back; run the fleets one by one in `order`."""
    with transaction.atomic():
        batched_acted = run_many(fleet_ids)
        batched = the_universe()
        transaction.set_rollback(True)
    assert the_universe() != batched  # it did act, and the rollback undid it
    one_by_one_acted = {fleet_id: run_one(fleet_id=fleet_id) for fleet_id in order}
    assert batched_acted == one_by_one_acted
    assert the_universe() == batched


def test_a_batch_of_arrivals_equals_the_arrivals_one_by_one(make_player, redis_conn):
    alice = make_player("alice", battleship=50, cruiser=50, large_cargo=50, **NO_PRODUCTION)
    carol = make_player("carol", **NO_PRODUCTION)
    bob = make_player("bob")  # produces: each arrival settles his stock to its own time
    npc = npc_seed(count=1)[0]
    raid = {"battleship": 4, "cruiser": 5, "large_cargo": 3}
    fleets = [
        launch(alice, bob.home.pk, "attack", raid),
        launch(carol, bob.home.pk, "attack", {"light_fighter": 30, "small_cargo": 5}),
        launch(carol, bob.home.pk, "transport", {"small_cargo": 2}, {"metal": 1000, "crystal": 500}),
        launch(alice, bob.home.pk, "attack", raid),
        launch(alice, npc.planet_id, "attack", {"battleship": 10, "large_cargo": 4}),
        launch(
            carol, npc.planet_id, "attack", {"cruiser": 10, "large_cargo": 4}
        ),  # after the defeat: loot only
    ]
    # Arrivals a second apart, the batch given out of order: it must apply them in arrival order.
    base = timezone.now() - timedelta(minutes=5)
    for i, fleet_id in enumerate(fleets):
        Fleet.objects.filter(pk=fleet_id).update(
            depart_at=base, arrive_at=base + timedelta(seconds=i + 1), return_at=base + timedelta(minutes=10)
        )
    already_home = launch(alice, carol.home.pk, "transport", {"small_cargo": 1})
    Fleet.objects.filter(pk=already_home).update(status=Fleet.Status.COMPLETED)
    batch = [fleets[3], fleets[0], already_home, fleets[5], 10**9, fleets[1], fleets[4], fleets[2]]
    totals = fleet_totals()

    batch_against_one_by_one(
        services.fleet_arrive_many, services.fleet_arrive, batch, [*fleets, already_home, 10**9]
    )

    statuses = dict(Fleet.objects.filter(pk__in=fleets).values_list("pk", "status"))
    assert Report.objects.count() == len(fleets)  # one per arrival, none for the others
    assert NpcBase.objects.get().state == NpcBase.State.DEFEATED
    assert any(status == Fleet.Status.RETURNING for status in statuses.values())
    assert fleet_totals()["metal"] >= totals["metal"]  # bob's production only adds


def test_a_batch_of_returns_equals_the_returns_one_by_one(make_player, redis_conn):
    alice = make_player("alice", **NO_PRODUCTION)
    bob = make_player("bob", **NO_PRODUCTION)
    fleets = [
        launch(alice, bob.home.pk, "transport", {"small_cargo": 1 + i}, {"metal": 100 * (i + 1)})
        for i in range(4)
    ]
    base = timezone.now() - timedelta(minutes=1)
    for i, fleet_id in enumerate(fleets):
        Fleet.objects.filter(pk=fleet_id).update(
            depart_at=base, arrive_at=base, return_at=base + timedelta(seconds=i + 1)
        )
    services.fleet_arrive_many(fleets)
    batch_against_one_by_one(
        services.fleet_return_many, services.fleet_return, [*reversed(fleets), 10**9], [*fleets, 10**9]
    )
    assert set(Fleet.objects.values_list("status", flat=True)) == {Fleet.Status.COMPLETED}


def test_one_write_to_redis_schedules_every_return_of_a_batch(make_player, redis_conn, monkeypatch):
    """Counted in this process: Redis's own command counters are the whole server's, which the
    other parts of the suite share while it runs."""
    alice = make_player("alice", **NO_PRODUCTION)
    bob = make_player("bob", **NO_PRODUCTION)
    fleets = [launch(alice, bob.home.pk, "transport", {"small_cargo": 1}) for _ in range(5)]
    sent = []  # per round trip, its script calls
    evalsha_all = queue._evalsha_all
    monkeypatch.setattr(
        queue,
        "_evalsha_all",
        lambda conn, script, calls: sent.append(len(calls)) or evalsha_all(conn, script, calls),
    )
    services.fleet_arrive_many(fleets)
    assert sent == [1]  # one round trip, one put script for every return, sent after the commit
    assert all(queue.job_status(f"fleet-return-{pk}") in ("queued", "scheduled") for pk in fleets)
