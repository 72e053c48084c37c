"""Hot spot: many fleets hit one planet in the same instant, on several workers at once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from combat.models import Report
from fleets.models import Fleet
from fleets.services import fleet_dispatch
from galactic.events import queue
from galactic.events.reconcile import reconcile
from galactic.models import Planet
from tests.conftest import fleet_totals, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

NO_PRODUCTION = {"metal_per_hour": 0, "crystal_per_hour": 0, "deuterium_per_hour": 0}


def test_same_second_arrivals_on_one_planet_lose_no_update_and_never_deadlock(
    make_player, redis_conn, processes
):
    target = make_player("target", **NO_PRODUCTION)
    senders = [make_player(f"sender{i}", **NO_PRODUCTION) for i in range(6)]
    for sender in senders:
        for mission in ["transport"] * 8 + ["attack"] * 2:
            fleet_dispatch(
                player=sender.player,
                origin_id=sender.home.pk,
                target_id=target.home.pk,
                mission=mission,
                ships={"small_cargo": 1, "light_fighter": 1},
                cargo={"metal": 100} if mission == "transport" else {},
            )
    # every arrival in the same instant, and also the return legs, across the board
    at = timezone.now() + timedelta(seconds=3)
    Fleet.objects.update(arrive_at=at, return_at=at + timedelta(seconds=1))
    redis_conn.flushdb()
    assert reconcile().enqueued == 60
    before = fleet_totals()
    target_metal = Planet.objects.get(pk=target.home.pk).metal

    for _ in range(3):
        processes.worker("--with-scheduler")
    wait_for(lambda: not Fleet.objects.filter(status__in=("outbound", "returning")).exists(), timeout=60)

    assert Report.objects.count() == 60
    assert queue.get_queue().failed_job_registry.count == 0, processes.logs()
    assert "deadlock" not in processes.logs(tail=None).lower()
    assert fleet_totals() == before
    # no lost update on the hot row: every delivery and every loot is in the target's stock
    delivered = 48 * 100
    looted = sum(r.data["loot"]["metal"] for r in Report.objects.filter(kind="battle"))
    assert Planet.objects.get(pk=target.home.pk).metal == target_metal + delivered - looted
