"""Redis Sentinel: kill the primary during a run; Sentinel promotes the replica, workers and web
carry on, and nothing is lost. Real redis-server and redis-sentinel processes on loopback ports."""

from __future__ import annotations

import signal

import pytest
from django.test import override_settings
from redis import Redis

from fleets.models import Fleet
from galactic.events import queue
from galactic.settings import redis_config
from tests.conftest import fleet_totals, process_env, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

MASTER = "gc"


@pytest.fixture
def sentinel_cluster(tmp_path, processes):
    """A primary, its replica and one sentinel (quorum 1), each stopped by its PID at the end."""
    primary = processes.redis_server()
    replica = processes.redis_server("--replicaof", "127.0.0.1", str(primary.port))
    wait_for(lambda: _replicating(replica.port), timeout=15)
    conf = tmp_path / "sentinel.conf"  # Sentinel rewrites it: a file of its own
    conf.write_text(
        f"sentinel monitor {MASTER} 127.0.0.1 {primary.port} 1\n"
        f"sentinel down-after-milliseconds {MASTER} 1000\n"
        f"sentinel failover-timeout {MASTER} 5000\n"
    )
    sentinel = processes.redis_server("--sentinel", config=conf)
    wait_for(lambda: _ping(sentinel.port), timeout=10)
    return {"primary": primary, "replica": replica.port, "sentinel": sentinel.port}


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

        sent = 0

        def dispatch(n: int) -> None:
            nonlocal sent
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
                sent += 1

        def dispatch_until_promoted() -> bool:
            """One more fleet each look while Sentinel notices and promotes the replica."""
            if _master_port(sentinel_cluster["sentinel"]) == sentinel_cluster["replica"]:
                return True
            if sent < 90:  # alice has 100 small cargos
                dispatch(1)
            return False

        dispatch(20)
        sentinel_cluster["primary"].proc.send_signal(signal.SIGKILL)
        wait_for(dispatch_until_promoted, timeout=30, interval=0.1)
        assert sent > 20, "no dispatch while the primary was down"
        dispatch(10)

        try:
            wait_for(lambda: not Fleet.objects.exclude(status="completed").exists(), timeout=60)
        except AssertionError:
            pytest.fail(
                f"fleets still in flight: {list(Fleet.objects.values_list('status', flat=True))}\n"
                + processes.logs(tail=6000)
            )
        assert Fleet.objects.count() == sent
        assert all(f.report_id for f in Fleet.objects.all())
        assert fleet_totals() == before
        assert client.get("/health").status_code == 200
        assert queue.get_queue_stats().workers == 2, processes.logs()  # the workers carried on
