"""Operator pages: the admin shows the queue figures; admin and dashboard refuse non-staff."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_user("ops", password="pw", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


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
