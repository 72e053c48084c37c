"""Brute force against the logins: the players' `/login/` and the admin's `/admin/login/`.

After LOGIN_FAILURE_LIMIT wrong passwords for one account, or from one client address, every
further attempt is refused with 429 and a page that says why, before any password hash is computed
(the hashing is what let 8 concurrent guessers slow every other player's API to a crawl). The
lockout ends by itself, and an operator can lift it from the admin.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from itertools import count
from urllib.parse import urlencode

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import MD5PasswordHasher
from django.test import Client

from tests.conftest import process_env, wait_for

from .conftest import Server

pytestmark = pytest.mark.django_db

LIMIT = 3


@pytest.fixture(autouse=True)
def small_limit(settings, redis_conn) -> None:
    """A small limit, no pause after a failure (tested on its own), and a clean Redis."""
    settings.LOGIN_RETRY_SECONDS = 0
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


@pytest.fixture
def hashes(monkeypatch) -> Iterator[list[str]]:
    """Every password hash the server computes (the test settings hash with MD5)."""
    computed: list[str] = []
    original_encode = MD5PasswordHasher.encode

    def counted(self, password: str, salt: str) -> str:
        computed.append(password)
        return original_encode(self, password, salt)

    monkeypatch.setattr(MD5PasswordHasher, "encode", counted)
    return computed


def attempt(path: str, username: str, password: str, address: str = "10.0.0.1"):
    return Client(REMOTE_ADDR=address).post(path, {"username": username, "password": password})


def assert_locked_out(response) -> None:
    assert response.status_code == 429, response.content[:300]
    page = response.content.decode()
    assert "Too many failed logins" in page and "Try again in 15 minutes" in page
    assert 0 < int(response["Retry-After"]) <= 15 * 60


def logged_in(response) -> bool:
    return response.status_code == 302 and "_auth_user_id" in response.client.session


@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
def test_wrong_passwords_lock_the_account_and_then_no_password_is_hashed(make_player, hashes, path):
    alice = make_player("alice")  # password "pw"
    alice.player.user.is_staff = True  # so that the admin's login would take her
    alice.player.user.save()
    for n in range(LIMIT - 1):
        assert attempt(path, "alice", f"guess-{n}").status_code == 200  # the form, with its error
    assert_locked_out(attempt(path, "alice", "guess-last"))  # the failure that reaches the limit
    hashed = len(hashes)

    assert_locked_out(attempt(path, "alice", "pw"))  # the right password, refused unread
    assert_locked_out(attempt(path, "alice", "pw", address="10.9.9.9"))  # from elsewhere too
    assert len(hashes) == hashed, "a locked-out attempt computed a password hash"
    assert AccessAttempt.objects.filter(username="alice").count() == 1


def test_one_address_guessing_many_accounts_is_locked_out(make_player, hashes):
    make_player("bob")
    for n in range(LIMIT):
        attempt("/login/", f"nobody-{n}", "guess", address="10.0.0.7")
    hashed = len(hashes)
    assert_locked_out(attempt("/login/", "bob", "pw", address="10.0.0.7"))
    assert len(hashes) == hashed
    assert logged_in(attempt("/login/", "bob", "pw", address="10.0.0.8"))  # other addresses: not


def test_one_account_guessed_from_many_addresses_is_locked_out(make_player):
    make_player("carol")
    for n in range(LIMIT):
        attempt("/login/", "carol", "guess", address=f"10.1.0.{n + 1}")
    assert_locked_out(attempt("/login/", "carol", "pw", address="10.1.0.99"))


def test_a_lockout_ends_by_itself(make_player, settings, redis_conn):
    settings.AXES_COOLOFF_TIME = timedelta(seconds=2)
    make_player("dave")
    for _ in range(LIMIT):
        attempt("/login/", "dave", "guess")
    locked = attempt("/login/", "dave", "pw")
    assert locked.status_code == 429 and int(locked["Retry-After"]) <= 2
    wait_for(lambda: logged_in(attempt("/login/", "dave", "pw")), timeout=10, interval=0.25)


def test_an_operator_lifts_a_lockout_from_the_admin(make_player, client):
    make_player("erin")
    for _ in range(LIMIT):
        attempt("/login/", "erin", "guess")
    assert_locked_out(attempt("/login/", "erin", "pw"))

    operator = get_user_model().objects.create_superuser("operator", password="op")
    client.force_login(operator)
    listing = client.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and "erin" in listing.content.decode()
    lockout = AccessAttempt.objects.get(username="erin")
    lifted = client.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": [lockout.pk], "post": "yes"},
    )
    assert lifted.status_code == 302, lifted.content[:500]
    assert not AccessAttempt.objects.exists()
    assert logged_in(attempt("/login/", "erin", "pw"))


def test_a_success_before_the_limit_is_not_locked_out(make_player):
    make_player("frank")
    for _ in range(LIMIT - 1):
        attempt("/login/", "frank", "guess")
    assert logged_in(attempt("/login/", "frank", "pw"))


def test_the_lockout_page_keeps_the_players_content_security_policy(make_player):
    make_player("gina")
    responses = [attempt("/login/", "gina", "guess") for _ in range(LIMIT)]
    policy = responses[-1]["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy


# --------------------------------------------------------------------------------------------------
# Through a real server, with production's password hasher, 8 guessers at a time.

MAX_GUESSES = 100_000  # at most; most are answered "busy" at once, and the deadline ends the run
CONCURRENCY = 8
SERVER_LIMIT = 5  # LOGIN_FAILURE_LIMIT of the `live` server


def login_form(server: Server) -> tuple[str, str]:
    """A visitor's session cookie and the CSRF token its login page carries."""
    page = server.request("GET /login/ HTTP/1.1")
    cookie = page.headers["set-cookie"].split(";")[0]
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.body).group(1).decode()
    return cookie, token


def post_login(server: Server, cookie: str, token: str, username: str, password: str) -> str:
    """What the server made of one attempt: checked (the form again), busy, locked or logged in."""
    body = urlencode({"csrfmiddlewaretoken": token, "username": username, "password": password}).encode()
    head = (
        f"POST /login/ HTTP/1.1\r\nCookie: {cookie}\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}"
    )
    answer = server.request(head, body)
    if answer.status == 429:
        return "locked" if b"Too many failed logins" in answer.body else "busy"
    return {200: "checked", 302: "logged in"}.get(answer.status, str(answer.status))


def test_concurrent_guessers_on_a_real_server_get_one_hash_at_a_time_up_to_the_limit(server: Server):
    made = server.processes.run(
        "manage.py",
        "create_player",
        "victim",
        "--password",
        "the-right-one",
        env=process_env(),  # the server's settings: PBKDF2, as in production
    )
    assert made.returncode == 0, made.stderr
    cookie, token = login_form(server)
    answers: Counter = Counter()
    sent = count()

    deadline = time.monotonic() + 60

    def guesser() -> None:
        """Guess until locked out (or out of guesses, or time); a "busy" answer is tried again."""
        while (n := next(sent)) < MAX_GUESSES and time.monotonic() < deadline:
            answer = post_login(server, cookie, token, "victim", f"guess-{n}")
            answers[answer] += 1
            if answer == "locked":
                return
            if answer == "busy":  # a client backs off a little (the server pauses after a failure)
                time.sleep(0.005)

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        for done in [pool.submit(guesser) for _ in range(CONCURRENCY)]:
            done.result()
    assert set(answers) <= {"checked", "busy", "locked"}, answers
    # One attempt at a time is checked: exactly the limit's worth of password hashes, then locked.
    assert answers["checked"] == SERVER_LIMIT - 1 and answers["locked"] >= 1, answers
    assert post_login(server, cookie, token, "victim", "the-right-one") == "locked"


# --------------------------------------------------------------------------------------------------
# One attempt at a time per account and per address.


@pytest.mark.parametrize("key", ["gc:login:busy:address:10.0.0.1", "gc:login:busy:account:alice"])
@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
def test_an_attempt_while_another_is_being_checked_is_refused_unhashed(
    make_player, hashes, redis_conn, key, path
):
    make_player("alice")
    redis_conn.set(key, "1", ex=10)  # another attempt for alice, or from this address, in progress
    hashed = len(hashes)
    response = attempt(path, "alice", "pw")
    assert response.status_code == 429 and response["Retry-After"] == "1"
    assert "Another login for this account or from your address" in response.content.decode()
    assert f'href="{path}"' in response.content.decode()  # back to the login it came from
    assert len(hashes) == hashed and not AccessAttempt.objects.exists()  # not counted either
    assert redis_conn.keys("gc:login:*") == [key.encode()]  # the refused attempt held nothing

    redis_conn.delete(key)
    assert logged_in(attempt("/login/", "alice", "pw"))
    assert not redis_conn.keys("gc:login:*")  # released after the attempt


def test_the_busy_answer_says_when_to_retry_in_whole_seconds(make_player, settings, redis_conn):
    settings.LOGIN_RETRY_SECONDS = 1.5
    make_player("alice")
    redis_conn.set("gc:login:busy:account:alice", "1", ex=10)
    assert attempt("/login/", "alice", "pw")["Retry-After"] == "2"  # an integer, as HTTP wants


def test_without_redis_logins_are_still_checked(make_player, settings, redis_conn):
    make_player("alice")
    settings.RQ_QUEUES = {"game_events": {**settings.RQ_QUEUES["game_events"], "PORT": 1}}  # nothing there
    assert logged_in(attempt("/login/", "alice", "pw"))


def test_a_lockout_is_mirrored_in_redis_until_it_ends_and_lifted_with_it(
    make_player, redis_conn, hashes, client
):
    """Once axes has locked an account, further attempts are refused by one Redis lookup (no
    session, no database, no hash), for as long as the lockout lasts."""
    make_player("hana")
    for _ in range(LIMIT):
        attempt("/login/", "hana", "guess", address="10.2.0.1")
    ttl = redis_conn.pttl("gc:login:locked:account:hana")
    assert 14 * 60 * 1000 < ttl <= 15 * 60 * 1000
    assert redis_conn.pttl("gc:login:locked:address:10.2.0.1") > 14 * 60 * 1000
    hashed = len(hashes)
    assert_locked_out(attempt("/login/", "hana", "pw", address="10.2.0.2"))
    assert len(hashes) == hashed

    AccessAttempt.objects.filter(username="hana").delete()  # what the admin's delete does
    assert not redis_conn.keys("gc:login:locked:*")
    assert logged_in(attempt("/login/", "hana", "pw", address="10.2.0.2"))


def test_after_a_failure_the_next_attempt_waits_the_retry_pause(make_player, settings, redis_conn, hashes):
    settings.LOGIN_RETRY_SECONDS = 1
    make_player("ivan")
    assert attempt("/login/", "ivan", "guess", address="10.3.0.1").status_code == 200
    hashed = len(hashes)
    too_soon = attempt("/login/", "ivan", "pw", address="10.3.0.2")  # same account
    assert too_soon.status_code == 429 and too_soon["Retry-After"] == "1"
    assert attempt("/login/", "someone", "pw", address="10.3.0.1").status_code == 429  # same address
    assert len(hashes) == hashed
    wait_for(lambda: logged_in(attempt("/login/", "ivan", "pw", address="10.3.0.2")), timeout=5, interval=0.2)
    assert not redis_conn.keys("gc:login:busy:*")  # a success releases at once
