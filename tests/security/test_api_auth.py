"""The API's authentication order: a token in `Authorization`, else the session with its CSRF
token (the players' page), else 401 with `WWW-Authenticate`. A client that sends no session is
never told about CSRF, and a bad token is a 401 whatever cookies come with it."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from fleets.models import Fleet

pytestmark = pytest.mark.django_db

NO_TOKEN = {}
BAD_TOKENS = [
    {"Authorization": "Token not-a-token"},
    {"Authorization": "Token "},
    {"Authorization": "Bearer abc"},
    {"Authorization": "Basic YTpi"},
]


def order(sender, receiver) -> str:
    return json.dumps(
        {
            "origin": sender.home.pk,
            "target": receiver.home.pk,
            "mission": "transport",
            "ships": {"small_cargo": 1},
        }
    )


def assert_401(response) -> None:
    assert response.status_code == 401, response.content
    body = response.json()
    assert set(body) == {"error", "detail", "fields"} and body["error"] == "unauthenticated", body
    assert "csrf" not in body["detail"].lower()
    assert response["WWW-Authenticate"].startswith("Token")


@pytest.mark.parametrize(
    "headers", [NO_TOKEN, *BAD_TOKENS], ids=["none", "wrong", "empty", "bearer", "basic"]
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_no_session_and_no_good_token_is_401_never_a_csrf_refusal(make_player, headers, method):
    alice, bob = make_player("alice"), make_player("bob")
    browser = Client(enforce_csrf_checks=True)
    if method == "post":
        response = browser.post(
            "/api/fleets", order(alice, bob), content_type="application/json", headers=headers
        )
    else:
        response = browser.get("/api/fleets", headers=headers)
    assert_401(response)
    assert not Fleet.objects.exists()


@pytest.mark.parametrize("headers", BAD_TOKENS, ids=["wrong", "empty", "bearer", "basic"])
def test_a_bad_token_is_401_even_beside_a_valid_session(make_player, headers):
    """The token is checked first and alone: a session cookie does not rescue it, and no CSRF
    message leaks out."""
    alice, bob = make_player("alice"), make_player("bob")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice.player.user)
    assert_401(
        browser.post("/api/fleets", order(alice, bob), content_type="application/json", headers=headers)
    )
    assert_401(browser.get("/api/fleets", headers=headers))
    assert not Fleet.objects.exists()


def test_a_good_token_needs_no_csrf_token(make_player):
    alice, bob = make_player("alice"), make_player("bob")
    browser = Client(enforce_csrf_checks=True)
    response = browser.post(
        "/api/fleets",
        order(alice, bob),
        content_type="application/json",
        headers={"Authorization": f"Token {alice.token}"},
    )
    assert response.status_code == 201, response.content


def test_a_session_writes_only_with_its_csrf_token(make_player):
    alice, bob = make_player("alice"), make_player("bob")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice.player.user)
    refused = browser.post("/api/fleets", order(alice, bob), content_type="application/json")
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden", refused.content
    assert not Fleet.objects.exists()

    page = browser.get("/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    sent = browser.post(
        "/api/fleets", order(alice, bob), content_type="application/json", headers={"X-CSRFToken": token}
    )
    assert sent.status_code == 201, sent.content
    assert "csrftoken" not in browser.cookies  # CSRF_USE_SESSIONS: the token lives in the session
