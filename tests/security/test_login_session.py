"""Logging in always authenticates what was posted, and gets a new session key.

Before: a browser holding someone else's valid session (planted by an attacker) that posted the
login form was sent on to the game in the attacker's account, whatever it posted. Also here: the
CSRF token lives in the session, and the players' pages carry a Content-Security-Policy that
allows no inline script or style (and have none).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.middleware.csrf import _unmask_cipher_token
from django.test import Client

pytestmark = pytest.mark.django_db

TEMPLATES = Path(settings.BASE_DIR) / "galactic" / "templates" / "game"


def session_key(browser: Client) -> str | None:
    cookie = browser.cookies.get(settings.SESSION_COOKIE_NAME)
    return cookie.value if cookie else None


def whose(browser: Client) -> str | None:
    """The player the browser's session plays as, read from the game page."""
    page = browser.get("/")
    if page.status_code != 200:
        return None
    return re.search(r'data-username="([^"]+)"', page.content.decode()).group(1)


@pytest.fixture
def planted(make_player) -> Client:
    """A victim's browser holding the attacker's (mallory's) valid session cookie."""
    make_player("alice")
    make_player("mallory")
    attacker = Client()
    attacker.post("/login/", {"username": "mallory", "password": "pw"})
    victim = Client()
    victim.cookies[settings.SESSION_COOKIE_NAME] = session_key(attacker)
    assert whose(victim) == "mallory"
    return victim


def test_logging_in_over_a_planted_session_logs_in_whom_was_posted(planted: Client):
    key = session_key(planted)
    response = planted.post("/login/", {"username": "alice", "password": "pw"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert whose(planted) == "alice"
    assert session_key(planted) != key


def test_a_failed_login_over_a_planted_session_leaves_nobody_logged_in(planted: Client):
    refused = planted.post("/login/", {"username": "alice", "password": "wrong"})
    assert refused.status_code == 200 and "correct username and password" in refused.content.decode()
    assert whose(planted) is None
    assert planted.get("/")["Location"] == "/login/?next=/"


def test_a_login_cycles_the_session_key(make_player):
    make_player("alice")
    browser = Client()
    browser.get("/login/")  # the visitor's session (it holds the CSRF token)
    before = session_key(browser)
    assert before
    browser.post("/login/", {"username": "alice", "password": "pw"})
    assert session_key(browser) not in (None, before)


def test_a_logged_in_player_visiting_the_login_page_goes_on_to_the_game(make_player, client):
    make_player("alice")
    client.post("/login/", {"username": "alice", "password": "pw"})
    assert client.get("/login/")["Location"] == "/"


def test_the_csrf_token_lives_in_the_session_and_changes_at_login(make_player):
    make_player("alice")
    browser = Client(enforce_csrf_checks=True)
    page = browser.get("/login/")
    assert "csrftoken" not in page.cookies
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    browser.post("/login/", {"username": "alice", "password": "pw", "csrfmiddlewaretoken": token})
    game = browser.get("/").content.decode()
    after = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', game).group(1)
    # both are masked tokens: compare the secrets behind them
    assert _unmask_cipher_token(after) != _unmask_cipher_token(token)


@pytest.mark.parametrize("path", ["/login/", "/"])
def test_the_players_pages_send_a_strict_content_security_policy(make_player, client, path):
    make_player("alice")
    if path == "/":
        client.post("/login/", {"username": "alice", "password": "pw"})
    response = client.get(path)
    assert response.status_code == 200
    policy = dict(
        part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";") if part.strip()
    )
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"
    assert "unsafe" not in response["Content-Security-Policy"]


@pytest.mark.parametrize("template", sorted(TEMPLATES.glob("*.html")), ids=lambda p: p.name)
def test_the_players_templates_hold_no_inline_script_style_or_handler(template: Path):
    """What the policy above would block: the page must not need it."""
    html = template.read_text()
    inline_scripts = [tag for tag in re.findall(r"<script\b[^>]*>", html) if "src=" not in tag]
    assert not inline_scripts, inline_scripts
    assert not re.search(r"<style\b", html)
    assert not re.search(r"\sstyle\s*=", html)
    assert not re.search(r"\son[a-z]+\s*=", html)
    assert "javascript:" not in html
