"""probe:update isolates failures: a mission that fails is counted against its own budget and
quarantined, while the others advance on time, each run; an operator can release it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from combat.models import Report
from galactic.events import attempts, queue, stuck
from galactic.events.models import EventAttempt, QuarantinedEvent
from galactic.ships import SHIPS
from probes.models import ProbeMission
from probes.services import probe_dispatch, probe_missions_advance

pytestmark = pytest.mark.django_db(transaction=True)

NO_PRODUCTION = {"metal_per_hour": 0, "crystal_per_hour": 0, "deuterium_per_hour": 0}


@pytest.fixture(autouse=True)
def fast_universe(settings):
    settings.GAME_SPEED = 100_000  # flights of 0 s: every mission is due at once


@pytest.fixture
def broken_mission(make_player, redis_conn):
    """Two missions between four planets; every update of the first one fails in the database."""
    alice, carol = (make_player(name, **NO_PRODUCTION) for name in ("alice", "carol"))
    bob, dave = (make_player(name, **NO_PRODUCTION, **dict.fromkeys(SHIPS, 0)) for name in ("bob", "dave"))
    bad = probe_dispatch(player=alice.player, origin_id=alice.home.pk, target_id=bob.home.pk, count=2)
    good = probe_dispatch(player=carol.player, origin_id=carol.home.pk, target_id=dave.home.pk, count=2)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE OR REPLACE FUNCTION test_broken() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'broken mission %', OLD.id; END $$ LANGUAGE plpgsql"
        )
        cursor.execute(
            "CREATE TRIGGER test_broken BEFORE UPDATE ON probes_probemission FOR EACH ROW "
            f"WHEN (OLD.id = {bad.pk}) EXECUTE FUNCTION test_broken()"
        )
    yield bad, good, bob
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER IF EXISTS test_broken ON probes_probemission")


def status(mission: ProbeMission) -> str:
    return ProbeMission.objects.get(pk=mission.pk).status


def test_a_failing_mission_is_quarantined_and_the_others_advance(broken_mission):
    bad, good, _ = broken_mission
    counts = probe_missions_advance(now=timezone.now())
    assert counts["arrived"] == 1 and counts["returned"] == 1  # the good one, there and back
    assert status(good) == ProbeMission.Status.COMPLETED and status(bad) == ProbeMission.Status.OUTBOUND
    assert Report.objects.count() == 1  # nothing of the failed one stays: its transaction rolled back
    for _ in range(attempts.failure_budget() - 1):
        probe_missions_advance(now=timezone.now())
    job_id = f"probe-mission-{bad.pk}"
    record = QuarantinedEvent.objects.get(job_id=job_id)
    assert "broken mission" in record.error and record.args == [bad.pk]
    counted = EventAttempt.objects.filter(job_id=job_id, kind="failed").count()
    assert counted == attempts.failure_budget()
    probe_missions_advance(now=timezone.now())  # left out now: not counted again
    assert EventAttempt.objects.filter(job_id=job_id, kind="failed").count() == counted


def test_a_mission_to_the_same_planet_advances_past_the_failing_one(broken_mission, make_player):
    """The failing mission is set aside at its own instant; the other events of its planet go on."""
    bad, _, bob = broken_mission
    erin = make_player("erin", **NO_PRODUCTION)
    same = probe_dispatch(player=erin.player, origin_id=erin.home.pk, target_id=bob.home.pk, count=2)
    later = ProbeMission.objects.get(pk=bad.pk).arrive_at + timedelta(seconds=1)
    ProbeMission.objects.filter(pk=same.pk).update(arrive_at=later, return_at=later)
    probe_missions_advance(now=timezone.now() + timedelta(seconds=2))
    assert status(same) == ProbeMission.Status.COMPLETED and status(bad) == ProbeMission.Status.OUTBOUND
    job_id = f"probe-mission-{bad.pk}"
    assert EventAttempt.objects.filter(job_id=job_id, kind="failed").count() == 1
    assert not EventAttempt.objects.filter(job_id=f"probe-mission-{same.pk}").exists()  # not its fault


def test_an_operator_releases_a_quarantined_mission(broken_mission):
    bad, _, _ = broken_mission
    for _ in range(attempts.failure_budget()):
        probe_missions_advance(now=timezone.now())
    job_id = f"probe-mission-{bad.pk}"
    assert QuarantinedEvent.objects.filter(job_id=job_id).exists()
    [row] = stuck.stuck_events().quarantined
    assert row.record.job_id == job_id
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER test_broken ON probes_probemission")
    outcome = stuck.release("process", job_id, by="ops")
    assert outcome.text == f"{job_id}: processed; released from quarantine"
    assert status(bad) == ProbeMission.Status.RETURNING
    again = stuck.release("process", job_id, by="ops")
    assert again.text == f"{job_id}: not quarantined (any more); nothing done"
    assert queue.put("probes.jobs.probe_mission", job_id=job_id, at=datetime.now(UTC), args=(bad.pk,))
