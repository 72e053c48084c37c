"""The admin's find-an-event page: a job id, a fleet id, a probe mission id or a player's name gives
the database row, the Redis job (status, attempts, due time, lateness, last error) and the report,
with the stuck-events actions; and "requeue all" on the failed events, with a real worker."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.html import escape

from fleets import schedules
from fleets.models import Fleet
from galactic.events import queue
from probes.services import probe_dispatch
from tests import jobs
from tests.conftest import wait_for
from tests.galactic.test_stuck_events import dispatch_attack, make_overdue, messages_of

pytestmark = pytest.mark.django_db(transaction=True)  # on_commit scheduling runs as in production

PAGE = "/admin/find-event/"


def jobs_by_id(response) -> dict:
    return {job.job_id: job for job in response.context["result"].jobs}


def test_a_fleet_id_shows_its_row_and_its_scheduled_arrival(staff_client, make_player, redis_conn):
    fleet = dispatch_attack(make_player)

    response = staff_client.get(PAGE, {"q": str(fleet.pk)})

    assert response.status_code == 200
    [found] = [item for item in response.context["result"].found if item.row == fleet]
    assert found.title == f"Fleet {fleet.pk}: attack, outbound"
    assert (
        "status",
        "outbound",
    ) in found.fields and found.admin_url == f"/admin/fleets/fleet/{fleet.pk}/change/"
    arrival = jobs_by_id(response)[schedules.arrival_job_id(fleet.pk)]
    assert (arrival.status, arrival.failures, arrival.retries_left) == ("scheduled", 0, 3)
    assert abs((arrival.due - fleet.arrive_at).total_seconds()) < 0.001
    assert arrival.late_text == "not due yet" and arrival.stuck is None
    assert jobs_by_id(response)[schedules.return_job_id(fleet.pk)].status == "missing"
    page = response.content.decode()
    assert f"<code>{schedules.arrival_job_id(fleet.pk)}</code>" in page and "Process now" not in page


def test_a_stuck_arrival_found_by_job_id_can_be_processed_and_then_shows_its_report(
    staff_client, make_player, redis_conn
):
    fleet = dispatch_attack(make_player)
    make_overdue(fleet, timedelta(minutes=10))
    redis_conn.flushdb()  # Redis lost the job
    job_id = schedules.arrival_job_id(fleet.pk)

    response = staff_client.get(PAGE, {"q": job_id})
    job = jobs_by_id(response)[job_id]
    assert (job.status, job.stuck.action.label) == ("missing", "Send the fleet home")
    assert job.late_text.startswith("overdue by 10 min")
    assert "Process now" in response.content.decode()

    response = staff_client.post(PAGE, {"q": job_id, "job_id": job_id, "action": "process"}, follow=True)

    assert messages_of(response) == [("success", f"{job_id}: processed")]
    assert response.context["result"].query == job_id  # back on the same search
    fleet.refresh_from_db()
    assert fleet.status in (Fleet.Status.RETURNING, Fleet.Status.DESTROYED)
    [found] = response.context["result"].found
    assert found.report == fleet.report and found.report_data["kind"] == "battle"
    assert escape(f'"id": {fleet.report_id}') in response.content.decode()


def test_a_player_name_lists_their_fleets_and_probe_missions(staff_client, make_player, redis_conn):
    fleet = dispatch_attack(make_player, "bob")
    home = fleet.origin
    mission = probe_dispatch(
        player=fleet.owner, origin_id=home.pk, target_id=fleet.target_id, count=2, speed=100
    )

    result = staff_client.get(PAGE, {"q": "bob"}).context["result"]

    titles = [item.title for item in result.found]
    assert titles == [f"Fleet {fleet.pk}: attack, outbound", f"Probe mission {mission.pk}: outbound"]
    assert [job.job_id for job in result.jobs] == [
        schedules.arrival_job_id(fleet.pk),
        schedules.return_job_id(fleet.pk),
        "probe-update",
    ]
    assert staff_client.get(PAGE, {"q": "nobody"}).context["result"].found == []


def test_a_failed_job_shows_its_attempts_and_last_error_and_requeue_all_brings_it_back(
    staff_client, redis_conn, processes
):
    # retries 1, 2, 3 s (tests/settings.py): four runs, all failing, then the failed registry
    queue.put("tests.jobs.fail_until", job_id="test-failing-1", at=timezone.now(), args=("failing", 99))
    processes.worker("--with-scheduler")
    failed = queue.get_queue().failed_job_registry
    wait_for(lambda: "test-failing-1" in failed.get_job_ids(), timeout=40)
    processes.stop_all()

    response = staff_client.get(PAGE, {"q": "test-failing-1"})
    job = jobs_by_id(response)["test-failing-1"]
    assert (job.status, job.failures, job.retries_left) == ("failed", 4, 0)
    assert job.last_error == "RuntimeError: planned failure 4 of failing"
    assert response.context["given_up"] == {"failed": 1}

    response = staff_client.post(
        PAGE, {"q": "test-failing-1", "action": "requeue-all", "source": "failed"}, follow=True
    )

    assert messages_of(response) == [("success", "1 failed event(s) requeued, due now")]
    assert failed.get_job_ids() == []
    job = jobs_by_id(response)["test-failing-1"]
    assert (job.status, job.retries_left) == ("queued", 3)
    processes.run_burst_worker()
    assert len(jobs.runs("failing")) == 5  # it ran once more: the bulk requeue reached a worker


def test_the_admin_index_and_the_stuck_events_page_link_to_it(staff_client, redis_conn):
    assert f'<a href="{PAGE}">Find an event</a>' in staff_client.get("/admin/").content.decode()
    assert f'<a href="{PAGE}">find an event</a>' in staff_client.get("/admin/stuck-events/").content.decode()
