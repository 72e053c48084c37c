"""Redis Sentinel: kill the primary during a run; Sentinel promotes the replica, workers and web
carry on, and nothing is lost. Real redis-server and redis-sentinel processes on loopback ports."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from django.test import override_settings
from redis import Redis

from fleets.models import Fleet
from galactic.events import queue
from galactic.settings import redis_config
from tests.conftest import fleet_totals, process_env, wait_for
from tests.galactic.test_health import free_port

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

MASTER = "gc"


def start_redis(tmp: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        ["redis-server", *args, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp)],
        stdout=subprocess.DEVNULL,
    )


@pytest.fixture
def sentinel_cluster(tmp_path):
    """A primary, its replica and one sentinel (quorum 1), each stopped by its PID at the end."""
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    primary_port, replica_port, sentinel_port = free_port(), free_port(), free_port()
    procs: dict[str, subprocess.Popen] = {}
    try:
        procs["primary"] = start_redis(tmp_path, "--port", str(primary_port))
        wait_for(lambda: _ping(primary_port), timeout=10)
        procs["replica"] = start_redis(
            tmp_path, "--port", str(replica_port), "--replicaof", "127.0.0.1", str(primary_port)
        )
        wait_for(lambda: _ping(replica_port) and _replicating(replica_port), timeout=15)
        conf = tmp_path / "sentinel.conf"
        conf.write_text(
            f"port {sentinel_port}\nbind 127.0.0.1\ndir {tmp_path}\n"
            f"sentinel monitor {MASTER} 127.0.0.1 {primary_port} 1\n"
            f"sentinel down-after-milliseconds {MASTER} 1000\n"
            f"sentinel failover-timeout {MASTER} 5000\n"
        )
        procs["sentinel"] = subprocess.Popen(
            ["redis-server", str(conf), "--sentinel"], stdout=subprocess.DEVNULL
        )
        wait_for(lambda: _ping(sentinel_port), timeout=10)
        yield {"procs": procs, "primary": primary_port, "replica": replica_port, "sentinel": sentinel_port}
    finally:  # also when setting up failed half-way: no server outlives the test
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)


def _ping(port: int) -> bool:
    try:
        return Redis(port=port, socket_connect_timeout=0.2).ping()
    except Exception:
        return False


def _replicating(port: int) -> bool:
    return Redis(port=port).info("replication").get("master_link_status") == "up"


def _master_port(sentinel_port: int) -> int:
    _host, port = Redis(port=sentinel_port).execute_command("SENTINEL", "get-master-addr-by-name", MASTER)
    return int(port)


def test_failover_loses_nothing(
    sentinel_cluster, monkeypatch, make_player, api_client, processes, settings, client
):
    settings.GAME_SPEED = 1000  # flights of about 5 s
    sentinels = f"127.0.0.1:{sentinel_cluster['sentinel']}"
    monkeypatch.setenv("REDIS_SENTINELS", sentinels)
    monkeypatch.setenv("REDIS_SENTINEL_MASTER", MASTER)
    env = process_env(REDIS_SENTINELS=sentinels, REDIS_SENTINEL_MASTER=MASTER, RECONCILE_INTERVAL="2")
    with override_settings(RQ_QUEUES={"game_events": {**redis_config(), "DEFAULT_TIMEOUT": 300}}):
        no_production = {"metal_per_hour": 0, "crystal_per_hour": 0, "deuterium_per_hour": 0}
        alice = make_player("alice", small_cargo=100, **no_production)
        bob = make_player("bob", **no_production)
        before = fleet_totals()
        for _ in range(2):
            processes.worker("--with-scheduler", env=env)
        processes.start("manage.py", "rqscheduler", env=env, name="scheduler")
        wait_for(lambda: queue.get_queue_stats().workers == 2, timeout=15)

        def dispatch(n: int) -> None:
            for _ in range(n):
                body = {
                    "origin": alice.home.pk,
                    "target": bob.home.pk,
                    "mission": "transport",
                    "ships": {"small_cargo": 1},
                    "cargo": {"metal": 100},
                }
                response = api_client(alice).post("/api/fleets", body)
                assert response.status_code == 201, response.content  # the web carries on
                time.sleep(0.1)

        dispatch(20)
        sentinel_cluster["procs"]["primary"].send_signal(signal.SIGKILL)
        dispatch(20)  # while Sentinel notices and promotes the replica
        wait_for(
            lambda: _master_port(sentinel_cluster["sentinel"]) == sentinel_cluster["replica"], timeout=30
        )
        dispatch(10)

        try:
            wait_for(lambda: not Fleet.objects.exclude(status="completed").exists(), timeout=60)
        except AssertionError:
            pytest.fail(
                f"fleets still in flight: {list(Fleet.objects.values_list('status', flat=True))}\n"
                + processes.logs(tail=6000)
            )
        assert Fleet.objects.count() == 50
        assert all(f.report_id for f in Fleet.objects.all())
        assert fleet_totals() == before
        assert client.get("/health").status_code == 200
        assert queue.get_queue_stats().workers == 2, processes.logs()  # the workers carried on
