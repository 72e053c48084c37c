"""The players' pages without a browser: login, logout, the game page, and GET /api/planets (the
list the page starts from)."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from combat.services import npc_seed

pytestmark = pytest.mark.django_db


def page_csrf_token(page) -> str:
    """The CSRF token a page carries ({% csrf_token %}): with CSRF_USE_SESSIONS there is no cookie."""
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)


def test_the_game_page_sends_a_visitor_to_the_login_page(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/"
    page = client.get("/login/?next=/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="username"' in html and 'name="password"' in html and 'name="next" value="/"' in html


def test_log_in_with_the_players_password_then_the_game_page(client, make_player):
    alice = make_player("alice")  # password "pw"
    refused = client.post("/login/", {"username": "alice", "password": "nope"})
    assert refused.status_code == 200 and "correct username and password" in refused.content.decode()

    response = client.post("/login/", {"username": "alice", "password": "pw"})
    assert response.status_code == 302 and response["Location"] == "/"
    page = client.get("/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "/static/game/app.js" in html and "/static/game/app.css" in html
    assert 'data-username="alice"' in html
    assert f'data-home-galaxy="{alice.home.galaxy}"' in html
    assert 'name="ships.battleship"' in html and 'data-error-for="ships.battleship"' in html
    # the CSRF token lives in the session and the page (app.js sends it back in X-CSRFToken)
    assert "csrftoken" not in page.cookies and page_csrf_token(page)
    # a logged-in player asking for the login page goes on to the game
    assert client.get("/login/")["Location"] == "/"


def test_logout_is_a_post(client, make_player):
    make_player("alice")
    client.login(username="alice", password="pw")
    assert client.get("/logout/").status_code == 405
    response = client.post("/logout/")
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert client.get("/")["Location"] == "/login/?next=/"


def test_an_account_without_a_player_is_told_so(client):
    get_user_model().objects.create_user(username="operator", password="pw")
    client.login(username="operator", password="pw")
    response = client.get("/")
    assert response.status_code == 403
    assert "no player" in response.content.decode()


def test_the_admin_keeps_its_own_login(client):
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_my_planets_list(make_player, api_client, client):
    alice = make_player("alice")
    make_player("bob")
    npc_seed(count=1)
    response = api_client(alice).get("/api/planets")
    assert response.status_code == 200
    assert response.json() == [
        {"id": alice.home.pk, "name": alice.home.name, "coords": str(alice.home.coords)}
    ]

    anonymous = Client().get("/api/planets")
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "unauthenticated"


def test_the_session_needs_the_csrf_token_to_change_anything(make_player):
    alice = make_player("alice")
    npc = npc_seed(count=1)[0]
    browser = Client(enforce_csrf_checks=True)
    browser.login(username="alice", password="pw")
    assert browser.get("/api/planets").status_code == 200  # reading needs no token
    token = page_csrf_token(browser.get("/"))
    order = {"origin": alice.home.pk, "target": npc.planet_id, "mission": "attack", "ships": {"cruiser": 1}}

    refused = browser.post("/api/fleets", json.dumps(order), content_type="application/json")
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"

    sent = browser.post(
        "/api/fleets", json.dumps(order), content_type="application/json", headers={"X-CSRFToken": token}
    )
    assert sent.status_code == 201, sent.content
