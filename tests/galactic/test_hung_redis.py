"""A Redis that accepts connections and never answers (or is stopped mid-run): the API still
answers, /health says 503 within a second, and workers and the scheduler wait it out."""

from __future__ import annotations

import shutil
import signal
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.test import override_settings

from fleets.models import Fleet
from galactic.events import queue
from galactic.settings import redis_config
from tests.conftest import process_env, wait_for
from tests.jobs import runs

pytestmark = pytest.mark.django_db(transaction=True)  # dispatches write to Redis on commit


@pytest.fixture
def hung_redis(monkeypatch) -> Iterator[int]:
    """A listener on a loopback port that accepts every connection and never answers; the app's
    Redis settings point at it for the test."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(128)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:  # closed: the test is over
                return

    threading.Thread(target=accept, daemon=True).start()
    port = server.getsockname()[1]
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{port}/0")
    with override_settings(RQ_QUEUES={"game_events": redis_config()}):
        yield port
    server.close()
    for conn in held:
        conn.close()


def test_health_says_503_within_a_second(client, hung_redis):
    client.get("/no-such-page")  # the first request of a process imports the URLs: not Redis's time
    for _ in range(2):  # the first call meets the hang, the second the open breaker
        started = time.monotonic()
        response = client.get("/health")
        elapsed = time.monotonic() - started
        assert response.status_code == 503 and response.json()["redis"] == "error"
        assert elapsed < 1.0, elapsed


def test_dispatches_answer_at_once_after_the_breaker_opens(make_player, api_client, hung_redis):
    alice, bob = make_player("alice"), make_player("bob")
    api = api_client(alice)
    api.get("/api/planets/1")  # the first request of a process imports the URLs: not Redis's time
    order = {
        "origin": alice.home.pk,
        "target": bob.home.pk,
        "mission": "transport",
        "ships": {"light_fighter": 1},
    }
    started = time.monotonic()
    assert api.post("/api/fleets", order).status_code == 201  # waits one socket timeout, opens the breaker
    first = time.monotonic() - started
    assert first < 2 * settings.REDIS_SOCKET_TIMEOUT + 0.5, first
    times = []
    for _ in range(8):
        started = time.monotonic()
        response = api.post("/api/fleets", order)
        times.append(time.monotonic() - started)
        assert response.status_code == 201
    assert statistics.median(times) <= 0.05, times  # no Redis wait: the breaker is open
    assert max(times) < settings.REDIS_SOCKET_TIMEOUT, times
    assert Fleet.objects.count() == 9  # every one saved; reconciliation will write their events


@pytest.fixture
def own_redis(tmp_path) -> Iterator[tuple[subprocess.Popen, str]]:
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(tmp_path),
    ]
    proc = subprocess.Popen(["redis-server", *args], stdout=subprocess.DEVNULL)
    yield proc, f"redis://127.0.0.1:{port}/0"
    if proc.poll() is None:
        proc.send_signal(signal.SIGCONT)
        proc.terminate()
        proc.wait(timeout=10)


def test_workers_and_the_scheduler_wait_out_a_hung_redis(own_redis, processes, monkeypatch):
    proc, url = own_redis
    monkeypatch.setenv("REDIS_URL", url)
    env = process_env(REDIS_URL=url, REDIS_WORKER_SOCKET_TIMEOUT="2")
    with override_settings(RQ_QUEUES={"game_events": redis_config()}):
        wait_for(lambda: queue.get_connection().ping(), timeout=10)
        worker = processes.worker("--with-scheduler", env=env)
        scheduler = processes.start("manage.py", "rqscheduler", env=env, name="scheduler")
        wait_for(lambda: queue.get_queue_stats().workers == 1, timeout=30)
        proc.send_signal(signal.SIGSTOP)  # it keeps its port and accepts, but answers nothing
        time.sleep(6)  # three of the workers' deadlines: each of their clients times out
        proc.send_signal(signal.SIGCONT)
        queue.put("tests.jobs.record", job_id="after-hang", at=datetime.now(UTC), args=("after-hang",))
        wait_for(lambda: runs("after-hang"), timeout=30)
    assert worker.poll() is None and scheduler.poll() is None, processes.logs()
    logs = processes.logs(tail=None)
    assert "Traceback" not in logs, logs
    assert logs.count(f"Redis at {url} does not answer") <= 2, logs  # one line per process and outage
    assert f"Redis at {url} does not answer" in logs, logs


def test_a_worker_started_while_redis_is_down_waits_for_it(own_redis, processes, monkeypatch, tmp_path):
    proc, url = own_redis
    proc.terminate()
    proc.wait(timeout=10)
    worker = processes.worker("--with-scheduler", env=process_env(REDIS_URL=url))
    wait_for(lambda: f"Redis at {url} does not answer" in processes.logs(), timeout=30)
    assert worker.poll() is None, processes.logs()
    port = url.rsplit(":", 1)[1].split("/")[0]
    args = ["--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)]
    again = subprocess.Popen(["redis-server", *args], stdout=subprocess.DEVNULL)
    try:
        monkeypatch.setenv("REDIS_URL", url)
        with override_settings(RQ_QUEUES={"game_events": redis_config()}):
            wait_for(lambda: queue.get_connection().ping(), timeout=10)
            queue.put("tests.jobs.record", job_id="once-up", at=datetime.now(UTC), args=("once-up",))
            wait_for(lambda: runs("once-up"), timeout=30)
        assert worker.poll() is None and "Traceback" not in processes.logs(tail=None)
    finally:
        again.terminate()
        again.wait(timeout=10)
