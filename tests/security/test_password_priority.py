"""Password hashes are computed at the lowest CPU priority (niceness 19), in a thread of their own,
so that the other players' requests come first; the hash itself is Django's PBKDF2, unchanged.

The test settings hash with MD5 for speed: these tests put the production hasher back (with few
rounds, where a login goes through it: the rounds are not what is tested there).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import hashers
from django.contrib.auth.hashers import PBKDF2PasswordHasher, check_password, identify_hasher
from django.test import Client

import galactic.settings as production
from galactic.passwords import LOWEST_PRIORITY, LowPriorityPBKDF2PasswordHasher, at_lowest_priority

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(sys.platform != "linux", reason="a niceness per thread is Linux's"),
]

HASHER = "galactic.passwords.LowPriorityPBKDF2PasswordHasher"


class FewRoundsLowPriorityHasher(LowPriorityPBKDF2PasswordHasher):
    iterations = 1_000


def niceness() -> int:
    """The calling thread's niceness (Linux keeps one per thread)."""
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.fixture
def rounds(monkeypatch) -> Iterator[list[dict]]:
    """Every PBKDF2 computation Django makes: the thread it ran in and that thread's niceness."""
    seen: list[dict] = []
    original = hashers.pbkdf2

    def spied(*args, **kwargs):
        seen.append({"thread": threading.get_native_id(), "niceness": niceness()})
        return original(*args, **kwargs)

    monkeypatch.setattr(hashers, "pbkdf2", spied)
    return seen


@pytest.fixture
def few_rounds(settings, redis_conn) -> None:
    settings.PASSWORD_HASHERS = ["tests.security.test_password_priority.FewRoundsLowPriorityHasher"]
    settings.LOGIN_RETRY_SECONDS = 0


def test_production_hashes_with_djangos_pbkdf2_at_the_lowest_priority():
    assert production.PASSWORD_HASHERS[0] == HASHER
    hasher = LowPriorityPBKDF2PasswordHasher()
    assert hasher.algorithm == PBKDF2PasswordHasher.algorithm == "pbkdf2_sha256"
    assert hasher.iterations == PBKDF2PasswordHasher.iterations >= 1_000_000  # not weakened


def test_the_rounds_run_in_another_thread_at_niceness_19_and_the_caller_keeps_its_own(rounds):
    before = niceness()
    encoded = LowPriorityPBKDF2PasswordHasher().encode("secret", "somesalt", iterations=1_000)

    assert rounds == [{"thread": rounds[0]["thread"], "niceness": LOWEST_PRIORITY}]
    assert rounds[0]["thread"] != threading.get_native_id()
    assert niceness() == before
    # exactly Django's hash: same format, same value
    assert encoded == PBKDF2PasswordHasher().encode("secret", "somesalt", iterations=1_000)


def test_existing_hashes_stay_valid_and_are_not_rehashed(settings):
    settings.PASSWORD_HASHERS = [HASHER]
    django_hasher = PBKDF2PasswordHasher()  # what made every stored hash so far
    stored = django_hasher.encode("secret", django_hasher.salt())
    rehashed: list[str] = []

    assert isinstance(identify_hasher(stored), LowPriorityPBKDF2PasswordHasher)
    assert check_password("secret", stored, setter=rehashed.append)
    assert not check_password("wrong", stored)
    assert rehashed == []  # same algorithm and rounds: nothing to upgrade


def test_an_error_in_the_hashing_thread_is_raised_in_the_caller():
    def broken() -> None:
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        at_lowest_priority(broken)
    assert at_lowest_priority(lambda a, b: a + b, 2, 3) == 5


@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
def test_logins_check_the_password_at_the_lowest_priority(make_player, few_rounds, rounds, path):
    alice = make_player("alice")  # password "pw", hashed with the low-priority hasher
    alice.player.user.is_staff = True  # so that the admin's login takes her
    alice.player.user.save()
    rounds.clear()

    wrong = Client(REMOTE_ADDR="10.0.0.1").post(path, {"username": "alice", "password": "guess"})
    assert wrong.status_code == 200 and "_auth_user_id" not in wrong.client.session  # the form again
    assert AccessAttempt.objects.get(username="alice").failures_since_start == 1  # axes counted it
    assert [r["niceness"] for r in rounds] == [LOWEST_PRIORITY]

    right = Client(REMOTE_ADDR="10.0.0.1").post(path, {"username": "alice", "password": "pw"})
    assert right.status_code == 302 and "_auth_user_id" in right.client.session
    assert [r["niceness"] for r in rounds] == [LOWEST_PRIORITY] * 2


def test_an_unknown_account_costs_the_same_low_priority_hash(db, few_rounds, rounds):
    """Django hashes the password of a login for an account that does not exist (so that timing
    does not tell which accounts exist): that hash yields too."""
    answer = Client(REMOTE_ADDR="10.0.0.2").post("/login/", {"username": "nobody", "password": "guess"})
    assert answer.status_code == 200
    assert [r["niceness"] for r in rounds] == [LOWEST_PRIORITY]
