"""Concurrent dispatches from one planet never spend the same ships twice.

Each dispatch runs over HTTP in a thread of its own, with its own database connection, so the
transactions really overlap in PostgreSQL. The stock check is slowed down so that, without the
row lock on the origin, every thread would read the same stock before any of them writes.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test import Client

from fleets import services
from fleets.models import Fleet
from galactic.events import queue
from galactic.models import Planet

pytestmark = pytest.mark.django_db(transaction=True)

NO_PRODUCTION = {"metal_per_hour": 0, "crystal_per_hour": 0, "deuterium_per_hour": 0}


@pytest.fixture
def slow_stock_check(monkeypatch):
    """Hold every dispatch a moment between reading the origin and writing it."""
    original = services._check_stock

    def slow(*args, **kwargs):
        time.sleep(0.3)
        return original(*args, **kwargs)

    monkeypatch.setattr(services, "_check_stock", slow)


def dispatch_all(token: str, orders: list[dict]) -> list[tuple[int, dict]]:
    """POST every order at the same moment, one thread (and one DB connection) each."""
    barrier = threading.Barrier(len(orders))

    def post(order: dict) -> tuple[int, dict]:
        try:
            client = Client()
            barrier.wait(timeout=10)
            response = client.post(
                "/api/fleets",
                order,
                content_type="application/json",
                headers={"Authorization": f"Token {token}"},
            )
            return response.status_code, response.json()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(orders)) as pool:
        return list(pool.map(post, orders))


def order(origin: int, target: int, ships: dict[str, int]) -> dict:
    return {"origin": origin, "target": target, "mission": "transport", "ships": ships, "speed": 100}


@pytest.mark.parametrize("threads", [2, 5])
def test_only_one_of_concurrent_dispatches_gets_all_battleships(
    make_player, redis_conn, slow_stock_check, threads
):
    alice = make_player("alice", **NO_PRODUCTION)
    bob = make_player("bob", **NO_PRODUCTION)
    before = Planet.objects.get(pk=alice.home.pk)
    assert before.battleship == 10

    results = dispatch_all(alice.token, [order(alice.home.pk, bob.home.pk, {"battleship": 10})] * threads)

    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [409] * (threads - 1), results
    for status, answer in results:
        if status == 409:
            assert answer["error"] == "conflict" and "ships.battleship" in answer["fields"]
    assert Fleet.objects.count() == 1
    after = Planet.objects.get(pk=alice.home.pk)
    assert after.battleship == 0
    fleet = Fleet.objects.get()
    assert before.deuterium - after.deuterium == fleet.fuel  # fuel paid once
    assert queue.job_status(f"fleet-arrival-{fleet.pk}") == "scheduled"
    assert queue.get_queue_stats().delayed == 1


def test_concurrent_partial_dispatches_share_the_stock_exactly(make_player, redis_conn, slow_stock_check):
    """Six orders of 3 battleships each, from a stock of 10: exactly three leave, one stays."""
    alice = make_player("alice", **NO_PRODUCTION)
    bob = make_player("bob", **NO_PRODUCTION)
    before = Planet.objects.get(pk=alice.home.pk)

    results = dispatch_all(alice.token, [order(alice.home.pk, bob.home.pk, {"battleship": 3})] * 6)

    statuses = sorted(status for status, _ in results)
    assert statuses == [201] * 3 + [409] * 3, results
    after = Planet.objects.get(pk=alice.home.pk)
    assert after.battleship == 1
    fleets = list(Fleet.objects.all())
    assert len(fleets) == 3 and all(f.ships == {"battleship": 3} for f in fleets)
    assert before.deuterium - after.deuterium == sum(f.fuel for f in fleets)
    assert queue.get_queue_stats().delayed == 3


def test_concurrent_dispatches_of_different_ships_all_succeed(make_player, redis_conn, slow_stock_check):
    """The lock serialises dispatches; it does not refuse those that fit together."""
    alice = make_player("alice", **NO_PRODUCTION)
    bob = make_player("bob", **NO_PRODUCTION)
    kinds = ["battleship", "cruiser", "light_fighter", "large_cargo"]
    before = Planet.objects.get(pk=alice.home.pk)

    results = dispatch_all(alice.token, [order(alice.home.pk, bob.home.pk, {kind: 2}) for kind in kinds])

    assert [status for status, _ in results] == [201] * len(kinds), results
    after = Planet.objects.get(pk=alice.home.pk)
    for kind in kinds:
        assert getattr(before, kind) - getattr(after, kind) == 2
    assert before.deuterium - after.deuterium == sum(f.fuel for f in Fleet.objects.all())
