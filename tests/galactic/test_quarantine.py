"""The attempt budget: a poison event and an event that kills its worker are quarantined after
their budget, with real workers; reconciliation leaves them alone; /metrics and /health count
them; operators release them from the admin, idempotently."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.test import override_settings

from combat.models import Report
from fleets import schedules
from fleets.models import Fleet
from galactic.events import attempts, queue, reconcile
from galactic.events.models import EventAttempt, QuarantinedEvent
from tests.conftest import cure_fleets, poison_fleet, wait_for
from tests.galactic.test_stuck_events import dispatch_attack, make_overdue
from tests.jobs import runs

pytestmark = pytest.mark.django_db(transaction=True)

PAGE = "/admin/stuck-events/"


@pytest.fixture
def poisoned_fleet(make_player, redis_conn):
    """An attack due now whose every update fails in the database."""
    fleet = dispatch_attack(make_player)
    make_overdue(fleet, timedelta(minutes=5))
    redis_conn.flushdb()
    reconcile.reconcile()  # its arrival, due now
    poison_fleet(fleet.pk)
    yield fleet
    cure_fleets()


def quarantined(job_id: str) -> bool:
    return QuarantinedEvent.objects.filter(job_id=job_id).exists()


def test_a_poison_event_is_quarantined_after_its_retries_and_stays_so(poisoned_fleet, processes, client):
    job_id = schedules.arrival_job_id(poisoned_fleet.pk)
    processes.worker("--with-scheduler")
    wait_for(lambda: quarantined(job_id), timeout=60)
    record = QuarantinedEvent.objects.get(job_id=job_id)
    assert record.reason == f"failed {attempts.failure_budget()} times"
    assert "poisoned fleet" in record.error
    assert (record.func, record.args) == (schedules.ARRIVAL_JOB, [poisoned_fleet.pk])
    history = EventAttempt.objects.filter(job_id=job_id)
    assert [a.kind for a in history] == ["failed"] * attempts.failure_budget()
    assert queue.job_status(job_id) == "failed"
    assert job_id in queue.get_queue().failed_job_registry.get_job_ids()

    # reconciliation leaves it alone, even once Redis lost it
    assert reconcile.reconcile().as_dict() == {"pending": 1, "enqueued": 0, "quarantined": 1}
    queue.get_connection().flushdb()
    assert reconcile.reconcile().enqueued == 0
    assert queue.put(schedules.ARRIVAL_JOB, job_id=job_id, at=datetime.now(UTC), args=(poisoned_fleet.pk,))

    health = client.get("/health")
    assert health.status_code == 200 and health.json()["quarantined"] == 1
    assert f"event id={job_id} outcome=quarantined" in processes.logs(tail=None)


def test_a_job_written_again_by_reconciliation_keeps_the_budget_spent(poisoned_fleet, processes):
    job_id = schedules.arrival_job_id(poisoned_fleet.pk)
    worker = processes.worker("--with-scheduler")
    failed = lambda: EventAttempt.objects.filter(job_id=job_id, kind="failed").count()  # noqa: E731
    wait_for(lambda: failed() >= 2, timeout=30)
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=30)
    queue.get_queue().fetch_job(job_id).delete()  # Redis lost it: reconciliation writes it afresh
    assert reconcile.reconcile().enqueued == 1
    assert queue.get_queue().fetch_job(job_id).retries_left == len(settings.GAME_EVENT_RETRY_DELAYS)
    processes.worker("--with-scheduler")
    wait_for(lambda: quarantined(job_id), timeout=60)
    assert failed() == attempts.failure_budget()  # not two more than that


def test_operators_release_a_quarantined_event(poisoned_fleet, processes, staff_client):
    job_id = schedules.arrival_job_id(poisoned_fleet.pk)
    processes.worker("--with-scheduler")
    wait_for(lambda: quarantined(job_id), timeout=60)
    page = staff_client.get(PAGE)
    [row] = page.context["stuck"].quarantined
    assert row.record.job_id == job_id and row.status == "failed"
    assert len(row.history) == attempts.failure_budget()
    assert "last traceback" in page.content.decode() and "poisoned fleet" in page.content.decode()
    assert job_id not in [r.event.job_id for r in page.context["stuck"].events]

    still = staff_client.post(PAGE, {"action": "process", "job_id": job_id}, follow=True)
    [refused] = [m.message for m in still.context["messages"]]
    assert refused.endswith("still quarantined")

    cure_fleets()
    done = staff_client.post(PAGE, {"action": "requeue", "job_id": job_id}, follow=True)
    assert [m.message for m in done.context["messages"]] == [
        f"{job_id}: released from quarantine; requeued, due now, with a fresh budget"
    ]
    again = staff_client.post(PAGE, {"action": "requeue", "job_id": job_id}, follow=True)
    [second] = [m.message for m in again.context["messages"]]  # released: an ordinary event now
    assert second.endswith(("nothing done", "left alone")), second
    wait_for(lambda: Fleet.objects.get(pk=poisoned_fleet.pk).status != Fleet.Status.OUTBOUND, timeout=30)
    assert [a.kind for a in EventAttempt.objects.filter(job_id=job_id)][-1] == "released"
    assert not quarantined(job_id)
    assert Report.objects.filter(fleet=poisoned_fleet).count() == 1


def test_send_home_releases_a_quarantined_arrival(poisoned_fleet, processes, staff_client):
    job_id = schedules.arrival_job_id(poisoned_fleet.pk)
    processes.worker("--with-scheduler")
    wait_for(lambda: quarantined(job_id), timeout=60)
    cure_fleets()
    response = staff_client.post(PAGE, {"action": "extra", "job_id": job_id}, follow=True)
    [message] = [m.message for m in response.context["messages"]]
    assert "sent home" in message and message.endswith("released from quarantine")
    assert Fleet.objects.get(pk=poisoned_fleet.pk).status == Fleet.Status.RETURNING
    assert queue.job_status(job_id) is None  # the failed job is gone with the quarantine


def test_a_job_that_kills_its_worker_is_handed_back_twice_then_quarantined(redis_conn, processes, client):
    queue.put("tests.jobs.kill_my_worker", job_id="killer-1", at=datetime.now(UTC), args=("killer-1",))
    queue.put("tests.jobs.record", job_id="innocent-1", at=datetime.now(UTC), args=("innocent-1",))
    worker = processes.worker()
    deadline = 90

    def settled() -> bool:
        nonlocal worker
        if worker.poll() is not None:  # killed: start another, as systemd would
            worker = processes.worker()
        return quarantined("killer-1")

    wait_for(settled, timeout=deadline, interval=0.2)
    assert len(runs("killer-1")) == 3  # the first run and two hand-backs
    assert len(runs("innocent-1")) == 1
    crashes = [a.kind for a in EventAttempt.objects.filter(job_id="killer-1")]
    assert crashes == ["crashed"] * 3, processes.logs()
    assert (
        QuarantinedEvent.objects.get(job_id="killer-1").reason == "its worker died 3 times while running it"
    )
    assert queue.job_status("killer-1") == "failed"
    assert queue.recover_abandoned() == 0
    assert len(runs("killer-1")) == 3
    with override_settings(METRICS_TOKEN="t"):
        body = client.get("/metrics", headers={"Authorization": "Bearer t"}).content.decode()
    assert "\ngame_events_quarantined 1\n" in body
