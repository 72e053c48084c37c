"""Fixtures shared by the whole suite: a clean Redis, and real worker processes.

Every test that starts a process (a worker, the scheduler, a redis-server, gunicorn, a browser, any
child Python) does it through a fixture named in STARTS_PROCESSES, directly or through another fixture,
and is marked `slow` by that alone: `make test-fast` (pytest -m "not slow") leaves it out.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from redis import Redis

from bench.harness import RedisServer, start_redis_server, stop_processes
from galactic.events import queue
from galactic.models import Planet
from galactic.services import NewPlayer

REPO = Path(__file__).resolve().parent.parent

# The fixtures that start processes (see the module's docstring): worker, scheduler, redis-server
# and any child Python (processes), chromium (tests/web: browser), gunicorn (tests/security: live).
STARTS_PROCESSES = frozenset({"processes", "browser", "live"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        # fixturenames is the closure: a fixture built on `processes` counts too
        if STARTS_PROCESSES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def closed_breaker() -> Iterator[None]:
    """Each test starts with the Redis circuit breaker closed, whatever the last one did."""
    queue.breaker.reset()
    yield
    queue.breaker.reset()


@pytest.fixture
def redis_conn() -> Iterator[Redis]:
    """The queue's Redis (a database index of its own), empty at the start of the test."""
    conn = queue.get_connection()
    conn.flushdb()
    yield conn
    conn.flushdb()


def process_env(**overrides: str) -> dict[str, str]:
    """Environment for a child process (worker, scheduler, web) that talks to the test database
    and the test Redis."""
    db = connection.settings_dict
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="galactic.settings",
        DEBUG="true",
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        REDIS_URL=os.environ["REDIS_URL"],
        GAME_EVENT_RETRY_DELAYS=os.environ["GAME_EVENT_RETRY_DELAYS"],
        GAME_SPEED=str(settings.GAME_SPEED),
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


class Processes:
    """Child processes started by a test, each stopped by its own PID at the end."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[subprocess.Popen] = []
        self.servers: list[subprocess.Popen] = []  # stopped after the processes that use them

    def start(self, *args: str, env: dict[str, str] | None = None, name: str = "proc") -> subprocess.Popen:
        path = self.log_dir / f"{name}-{len(self.started)}.log"
        with open(path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, *args],
                cwd=REPO,
                env=env or process_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        proc.log_path = path  # what it printed
        self.started.append(proc)
        return proc

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess:
        """Run `python *args` to its end; its output is captured (text)."""
        return self.run_program(sys.executable, *args, env=env or process_env(), timeout=timeout)

    def run_program(
        self, *argv: str, env: dict[str, str] | None = None, cwd: Path = REPO, timeout: float = 60
    ) -> subprocess.CompletedProcess:
        """Run a program to its end (in this environment unless given one); its output is captured."""
        return subprocess.run(list(argv), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)

    def redis_server(self, *args: str, config: Path | None = None) -> RedisServer:
        """A redis-server of this test's own on a free loopback port (see bench.harness), answering
        when this returns; stopped by its PID at the end of the test."""
        if not shutil.which("redis-server"):
            pytest.skip("redis-server is not installed")
        # its log is not a *.log: logs() shows what the game's processes printed
        server = start_redis_server(self.log_dir, *args, config=config, log=self.log_dir / "redis-server.txt")
        self.servers.append(server.proc)
        return server

    def worker(self, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        return self.start("manage.py", "rqworker", queue.QUEUE_NAME, *extra, env=env, name="worker")

    def run_burst_worker(self, *extra: str, timeout: float = 60, env: dict[str, str] | None = None) -> None:
        """Run one burst worker (with the scheduler) until the queue is empty."""
        proc = self.worker("--burst", "--with-scheduler", *extra, env=env)
        assert proc.wait(timeout=timeout) == 0, self.logs()

    def logs(self, tail: int | None = 3000) -> str:
        """What the processes printed: the last `tail` characters of each log, or all of it."""
        return "\n".join(
            p.read_text(errors="replace")[-tail if tail else 0 :] for p in sorted(self.log_dir.glob("*.log"))
        )

    def stop_all(self) -> None:
        stop_processes(self.started, timeout=10)
        stop_processes(self.servers, timeout=10)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    yield procs
    procs.stop_all()


def poison_fleet(fleet_id: int) -> None:
    """A trigger that fails every update of one fleet, as a black-box test breaks an event: its
    arrival can never be applied. cure_fleets() takes it away."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE OR REPLACE FUNCTION test_poison() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'poisoned fleet %', OLD.id; END $$ LANGUAGE plpgsql"
        )
        cursor.execute(
            "CREATE TRIGGER test_poison BEFORE UPDATE ON fleets_fleet FOR EACH ROW "
            f"WHEN (OLD.id = {int(fleet_id)}) EXECUTE FUNCTION test_poison()"
        )


def cure_fleets() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER IF EXISTS test_poison ON fleets_fleet")


def wait_for(predicate: Callable[[], object], timeout: float = 20, interval: float = 0.05) -> object:
    """Poll until predicate() is truthy; fail with a clear message after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s: {predicate}")


@pytest.fixture
def staff_client(admin_client):
    """An operator logged in to the admin and the queue pages (pytest-django's superuser)."""
    return admin_client


@pytest.fixture
def make_player(db) -> Callable[..., NewPlayer]:
    """Create a player (home planet, starting ships and stock) with a given name."""
    from galactic.services import player_create

    def make(name: str = "alice", **home_fields: object) -> NewPlayer:
        new = player_create(username=name, password="pw")
        if home_fields:
            Planet.objects.filter(pk=new.home.pk).update(**home_fields)
            new.home.refresh_from_db()
        return new

    return make


@pytest.fixture
def api_client(client) -> Callable[[NewPlayer], APIClient]:
    """A Django test client that sends a player's API token."""

    def for_player(new: NewPlayer) -> APIClient:
        return APIClient(client, new.token)

    return for_player


class APIClient:
    def __init__(self, client, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Token {token}"}

    def get(self, path: str, **params: object):
        return self.client.get(path, params, headers=self.headers)

    def post(self, path: str, body: object):
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        return self.client.post(path, data, content_type="application/json", headers=self.headers)


def fleet_totals() -> dict[str, int]:
    """Every resource in the universe: planets, cargo in flight, and the fuel burnt so far.

    Constant while production is zero (a landed fleet keeps its cargo figures, so only fleets in
    flight count)."""
    from django.db.models import Sum

    from fleets.models import Fleet

    planets = Planet.objects.aggregate(m=Sum("metal"), c=Sum("crystal"), d=Sum("deuterium"))
    flying = Fleet.objects.filter(status__in=("outbound", "returning")).aggregate(
        m=Sum("metal"), c=Sum("crystal"), d=Sum("deuterium")
    )
    fuel = Fleet.objects.aggregate(f=Sum("fuel"))["f"] or 0
    return {
        "metal": (planets["m"] or 0) + (flying["m"] or 0),
        "crystal": (planets["c"] or 0) + (flying["c"] or 0),
        "deuterium": (planets["d"] or 0) + (flying["d"] or 0) + fuel,
    }
