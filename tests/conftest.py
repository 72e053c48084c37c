"""Fixtures shared by the whole suite: a clean Redis, and real worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connection
from redis import Redis

from galactic import queue

REPO = Path(__file__).resolve().parent.parent


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
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


class Processes:
    """Child processes started by a test, each stopped by its own PID at the end."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[subprocess.Popen] = []

    def start(self, *args: str, env: dict[str, str] | None = None, name: str = "proc") -> subprocess.Popen:
        with open(self.log_dir / f"{name}-{len(self.started)}.log", "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, *args],
                cwd=REPO,
                env=env or process_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.started.append(proc)
        return proc

    def worker(self, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        return self.start("manage.py", "rqworker", queue.QUEUE_NAME, *extra, env=env, name="worker")

    def run_burst_worker(self, *extra: str, timeout: float = 60) -> None:
        """Run one burst worker (with the scheduler) until the queue is empty."""
        proc = self.worker("--burst", "--with-scheduler", *extra)
        assert proc.wait(timeout=timeout) == 0, self.logs()

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.log_dir.glob("*.log")))

    def stop_all(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in self.started:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    yield procs
    procs.stop_all()


def wait_for(predicate: Callable[[], object], timeout: float = 20, interval: float = 0.05) -> object:
    """Poll until predicate() is truthy; fail with a clear message after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s: {predicate}")
