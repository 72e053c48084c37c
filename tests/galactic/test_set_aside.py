"""An event that fails never holds back the other events of its planet.

Game time applies every pending event of a planet up to the time asked for, so an event that can
never be applied (here: a database trigger that fails every update of one fleet, as a black-box
test breaks an event) would fail every run on its planet. The timeline sets it aside instead: it
fails in its own job only, and counts against its own attempt budget. And a worker that dies while
a job applies another event has the crash counted against that event (the breadcrumb)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rq import Queue
from rq.registry import StartedJobRegistry

from fleets.models import Fleet
from fleets.services import fleet_arrive, fleet_arrive_many, fleet_dispatch
from galactic import timeline
from galactic.events import attempts, queue
from galactic.events.models import QuarantinedEvent
from galactic.models import Planet
from tests.conftest import cure_fleets, poison_fleet

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cure():
    yield
    cure_fleets()


@pytest.fixture
def three_transports(make_player, redis_conn):
    """Three transports from three players to one planet, due 3, 2 and 1 minutes ago."""
    target = make_player("target").home
    fleets = []
    for i, name in enumerate(["a", "b", "c"]):
        sender = make_player(name)
        fleet = fleet_dispatch(
            player=sender.player,
            origin_id=sender.home.pk,
            target_id=target.pk,
            mission="transport",
            ships={"small_cargo": 1},
            cargo={"metal": 100 * (i + 1), "crystal": 0, "deuterium": 0},
        )
        now = timezone.now()
        Fleet.objects.filter(pk=fleet.pk).update(
            depart_at=now - timedelta(hours=1),
            arrive_at=now - timedelta(minutes=3 - i),
            return_at=now + timedelta(hours=1),
        )
        fleets.append(fleet)
    return target, fleets


def test_a_poisoned_arrival_is_set_aside_and_the_later_ones_land(three_transports, cure):
    target, (first, poisoned, last) = three_transports
    metal_before = Planet.objects.get(pk=target.pk).metal
    poison_fleet(poisoned.pk)

    assert fleet_arrive(fleet_id=last.pk) is True  # applies the first, sets the poisoned one aside

    statuses = dict(Fleet.objects.values_list("pk", "status"))
    assert statuses[first.pk] == statuses[last.pk] == "returning"
    assert statuses[poisoned.pk] == "outbound"
    assert Planet.objects.get(pk=target.pk).metal == metal_before + 100 + 300
    with pytest.raises(Exception, match="poisoned fleet"):
        fleet_arrive(fleet_id=poisoned.pk)  # fails in its own job, counted there
    assert Fleet.objects.get(pk=poisoned.pk).status == "outbound"


def test_a_batch_holding_a_poisoned_arrival_fails_and_its_other_jobs_succeed_alone(three_transports, cure):
    _, (first, poisoned, last) = three_transports
    poison_fleet(poisoned.pk)
    with pytest.raises(Exception, match="poisoned fleet"):
        fleet_arrive_many([first.pk, poisoned.pk, last.pk])  # its own event is in the batch
    # what came before the failing instant is applied (for good: game time is final), no more
    statuses = dict(Fleet.objects.values_list("pk", "status"))
    assert (statuses[first.pk], statuses[poisoned.pk], statuses[last.pk]) == (
        "returning",
        "outbound",
        "outbound",
    )
    # the worker then runs the batch's jobs one by one: only the poisoned one fails
    assert fleet_arrive(fleet_id=first.pk) is False  # already applied
    assert fleet_arrive(fleet_id=last.pk) is True


def test_a_quarantined_event_is_left_alone_by_every_run(three_transports):
    _, (first, held, last) = three_transports
    QuarantinedEvent.objects.create(job_id=f"fleet-arrival-{held.pk}", func="x", reason="test")
    assert fleet_arrive(fleet_id=last.pk) is True
    statuses = dict(Fleet.objects.values_list("pk", "status"))
    assert (statuses[first.pk], statuses[held.pk], statuses[last.pk]) == (
        "returning",
        "outbound",
        "returning",
    )
    QuarantinedEvent.objects.all().delete()  # released: it lands, late, on the stock as it is now
    assert fleet_arrive(fleet_id=held.pk) is True


def test_a_watched_run_names_each_instant_before_applying_it(three_transports):
    _, fleets = three_transports
    seen: list[list[str]] = []
    with timeline.watching(seen.append):
        assert fleet_arrive(fleet_id=fleets[2].pk)
    assert seen == [[f"fleet-arrival-{fleet.pk}"] for fleet in fleets]  # one instant at a time


def started_by_a_dead_worker(game_queue: Queue, redis_conn, job_id: str) -> None:
    """`job_id` started by a worker whose liveness key is gone (it was SIGKILLed)."""
    # a no-op when the job is already queued
    queue.put("tests.jobs.record", job_id=job_id, at=timezone.now() - timedelta(seconds=1), args=("a",))
    job, _ = Queue.dequeue_any([game_queue], None, connection=redis_conn)
    queue.take(
        game_queue, job, worker_name="dead", worker_key="rq:worker:dead", ttl=60, via_intermediate=True
    )
    redis_conn.hset("rq:worker:dead", "liveness", "1")  # a GameWorker, whose liveness key expired


def test_a_crash_while_applying_another_event_is_counted_against_that_event(redis_conn, settings):
    settings.GAME_EVENT_MAX_HANDBACKS = 1
    game_queue = queue.get_queue()
    for attempt in range(2):
        started_by_a_dead_worker(game_queue, redis_conn, "fleet-arrival-1")
        queue.leave_breadcrumb(redis_conn, "fleet-arrival-1", ["fleet-arrival-7"])
        assert queue.recover_abandoned() == 1  # handed back, not counted against it
        assert redis_conn.hget(attempts.counter_key("fleet-arrival-1"), "crashes") is None
        assert int(redis_conn.hget(attempts.counter_key("fleet-arrival-7"), "crashes")) == attempt + 1
        assert StartedJobRegistry(queue=game_queue).get_job_ids() == []
        assert game_queue.job_ids == ["fleet-arrival-1"]  # back in the queue; the next loop takes it
    assert QuarantinedEvent.objects.filter(job_id="fleet-arrival-7").exists()  # past its hand-backs
    assert not QuarantinedEvent.objects.filter(job_id="fleet-arrival-1").exists()


def test_a_crash_while_applying_its_own_event_is_its_own(redis_conn):
    game_queue = queue.get_queue()
    started_by_a_dead_worker(game_queue, redis_conn, "fleet-arrival-1")
    queue.leave_breadcrumb(redis_conn, "fleet-arrival-1", ["fleet-arrival-1", "fleet-arrival-7"])
    assert queue.recover_abandoned() == 1
    assert int(redis_conn.hget(attempts.counter_key("fleet-arrival-1"), "crashes")) == 1
    assert redis_conn.hget(attempts.counter_key("fleet-arrival-7"), "crashes") is None


def test_a_poisoned_mission_out_of_the_planet_is_set_aside_where_it_arrives(make_player, redis_conn, cure):
    """The run of an arrival at home first applies the missions that leave home and are back by
    then, at their targets (feeders): the poisoned one among them is set aside at its own instant."""
    home, target, sender = make_player("home"), make_player("target"), make_player("sender")
    now = timezone.now()

    def transport(player, origin, to, arrive_ago: int, return_ago: int) -> Fleet:
        fleet = fleet_dispatch(
            player=player,
            origin_id=origin,
            target_id=to,
            mission="transport",
            ships={"small_cargo": 1},
            cargo={"metal": 10, "crystal": 0, "deuterium": 0},
        )
        Fleet.objects.filter(pk=fleet.pk).update(
            depart_at=now - timedelta(hours=1),
            arrive_at=now - timedelta(minutes=arrive_ago),
            return_at=now + timedelta(minutes=-return_ago),
        )
        return fleet

    away = transport(home.player, home.home.pk, target.home.pk, arrive_ago=5, return_ago=3)
    incoming = transport(sender.player, sender.home.pk, home.home.pk, arrive_ago=1, return_ago=-60)
    poison_fleet(away.pk)
    assert fleet_arrive(fleet_id=incoming.pk) is True
    assert Fleet.objects.get(pk=away.pk).status == "outbound"  # set aside, to fail in its own job
    assert Fleet.objects.get(pk=incoming.pk).status == "returning"
