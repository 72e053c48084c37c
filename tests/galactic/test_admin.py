"""Operator pages: the admin shows the queue figures; admin and dashboard refuse non-staff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from galactic.events import queue

pytestmark = pytest.mark.django_db


def test_admin_index_shows_queue_figures(staff_client, redis_conn):
    page = staff_client.get("/admin/").content.decode()
    assert 'id="queue-figures"' in page
    for figure in ("waiting", "running", "delayed", "completed", "failed", "workers", "oldest overdue"):
        assert f"<dt>{figure}</dt>" in page
    assert ">game events</th>" in page and ">periodic jobs</th>" in page


@pytest.mark.parametrize(
    "path",
    [
        "/admin/galactic/planet/",
        "/admin/fleets/fleet/",
        "/admin/combat/report/",
        "/admin/combat/npcbase/",
        "/admin/galactic/player/",
    ],
)
def test_every_game_model_has_an_admin_page(staff_client, path):
    assert staff_client.get(path).status_code == 200


def test_dashboard_is_for_staff_only(client, make_player, redis_conn, staff_client):
    assert staff_client.get("/django-rq/").status_code == 200
    client.logout()
    player = make_player("mallory")
    client.force_login(player.player.user)
    assert client.get("/django-rq/").status_code in (302, 403)
    assert client.get("/admin/").status_code == 302


def test_dashboard_reads_a_scheduled_game_event(staff_client, redis_conn):
    """The job hash put() writes leaves out RQ's empty fields and description: django-rq's pages
    still read it."""
    at = datetime.now(UTC) + timedelta(hours=1)
    queue.put("fleets.jobs.fleet_arrival", job_id="fleet-arrival-42", at=at, args=(42,))
    detail = staff_client.get("/django-rq/queues/0/fleet-arrival-42/")
    assert detail.status_code == 200
    assert "fleets.jobs.fleet_arrival" in detail.content.decode()
    scheduled = staff_client.get("/django-rq/queues/0/scheduled/")
    assert scheduled.status_code == 200 and "fleet-arrival-42" in scheduled.content.decode()
