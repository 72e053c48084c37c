"""GET /health against the real database and Redis, and against a Redis that is really stopped."""

from __future__ import annotations

import pytest
from django.test import override_settings

from galactic.settings import redis_config
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db


def test_health_reports_ok_with_queue_figures(client, redis_conn):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["redis"] == "ok"
    assert set(body["queues"]["game_events"]) == {"waiting", "active", "delayed", "completed", "failed"}
    assert body["workers"] == 0
    assert "redis://" not in response.content.decode()


def test_health_answers_503_naming_redis_when_redis_is_stopped(client, processes, monkeypatch):
    server = processes.redis_server()
    proc = server.proc
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{server.port}/0")
    with override_settings(RQ_QUEUES={"game_events": redis_config()}):
        wait_for(lambda: client.get("/health").status_code == 200, timeout=10)
        proc.terminate()
        proc.wait(timeout=10)
        response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["redis"] == "error"
    assert body["database"] == "ok"
    assert set(body) == {"status", "database", "redis", "queues", "workers", "quarantined"}
