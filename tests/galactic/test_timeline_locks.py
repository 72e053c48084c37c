"""galactic.timeline locks the planets of a run and their feeders, transitively, in key order: a
mission out of a planet that is due back by the run's time arrives first at its target, which is
then locked too (before any event row)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from fleets.models import Fleet
from galactic import timeline
from galactic.events.models import QuarantinedEvent
from galactic.models import Planet
from probes.models import ProbeMission

pytestmark = pytest.mark.django_db


def fly(model: type, origin: Planet, target: Planet, back_in: timedelta) -> None:
    """An outbound mission (no cargo, nothing to fight) that comes back `back_in` from now."""
    now = timezone.now()
    times = {"depart_at": now - timedelta(hours=2), "arrive_at": now - timedelta(hours=1)}
    times["return_at"] = max(times["arrive_at"], now + back_in)
    common = {"owner": origin.owner, "origin": origin, "target": target, "fuel": 1, "speed": 100, **times}
    if model is Fleet:
        Fleet.objects.create(mission="transport", ships={"small_cargo": 1}, **common)
    else:
        ProbeMission.objects.create(count=1, launched=1, **common)


@pytest.fixture
def chain(make_player) -> list[Planet]:
    """A -> B -> C -> A by fleets (a cycle), C -> D by probes, all due back; D -> E back later."""
    a, b, c, d, e = (make_player(name).home for name in "abcde")
    fly(Fleet, a, b, timedelta(hours=-1))
    fly(Fleet, b, c, timedelta(minutes=-30))
    fly(Fleet, c, a, timedelta(minutes=-10))
    fly(ProbeMission, c, d, timedelta(minutes=-20))
    fly(Fleet, d, e, timedelta(hours=1))  # not back by now: E is not a feeder
    return [a, b, c, d, e]


def test_the_closure_holds_the_feeders_of_every_kind_transitively_and_ends_on_a_cycle(chain):
    a, b, c, d, e = chain
    kinds = [factory() for factory in timeline._KINDS]
    assert timeline._closure({a.pk}, timezone.now(), kinds) == ({a.pk, b.pk, c.pk, d.pk}, False)
    assert timeline._closure({e.pk}, timezone.now(), kinds) == ({e.pk}, False)  # it feeds nobody
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        locked = timeline._lock({d.pk, a.pk, c.pk})
    assert list(locked) == sorted([a.pk, c.pk, d.pk])  # in key order, the lock order
    assert locked[a.pk].owner.pk == a.owner_id  # with its owner, as the events need it
    assert any("FOR NO KEY UPDATE" in q["sql"] for q in captured.captured_queries)


def test_a_run_locks_the_feeders_and_applies_their_events_first(chain):
    a, b, c, d, _ = chain
    run = timeline.advance(planet_ids=[b.pk], until=timezone.now())
    assert set(run.planets) == {a.pk, b.pk, c.pk, d.pk}
    assert not Fleet.objects.filter(status=Fleet.Status.OUTBOUND, return_at__lte=timezone.now()).exists()
    assert ProbeMission.objects.get(origin=c).status != ProbeMission.Status.OUTBOUND


def test_the_closure_statement_also_tells_whether_any_event_is_quarantined(chain):
    """So that a run reads the quarantine only when it holds something: one statement less."""
    a, b, c, d, e = chain
    kinds = [factory() for factory in timeline._KINDS]
    with CaptureQueriesContext(connection) as captured:
        timeline.advance(planet_ids=[e.pk], until=timezone.now())
    quarantine_reads = [q for q in captured.captured_queries if "events_quarantinedevent" in q["sql"]]
    assert len(quarantine_reads) == 1 and "UNION ALL" in quarantine_reads[0]["sql"]

    QuarantinedEvent.objects.create(job_id="fleet-arrival-999999", func="x", reason="test")
    QuarantinedEvent.objects.create(job_id="fleet-arrival-999998", func="x", reason="test")
    assert timeline._closure({a.pk}, timezone.now(), kinds) == ({a.pk, b.pk, c.pk, d.pk}, True)
    assert timeline._closure({e.pk}, timezone.now(), kinds) == ({e.pk}, True)  # no planet -1
