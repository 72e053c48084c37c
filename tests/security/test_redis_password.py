"""A Redis that requires a password: both ways of configuring it (REDIS_URL, and the older
REDIS_HOST/PORT/PASSWORD) reach it from the web process and from a real worker process; a wrong
or missing password is a 503 from /health naming Redis; the password never shows in /health."""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from django.test import override_settings
from django.utils import timezone

from galactic.events import queue
from galactic.settings import redis_config
from tests import jobs
from tests.conftest import process_env, wait_for

pytestmark = pytest.mark.django_db


@dataclass
class LockedRedis:
    port: int
    password: str
    proc: subprocess.Popen


@pytest.fixture
def locked_redis(tmp_path, processes) -> LockedRedis:
    """A redis-server of this test's own, on a free loopback port, with `requirepass`; stopped by
    its PID at the end."""
    # Characters that are special in a URL, so the URL form must be percent-encoded to work.
    password = secrets.token_urlsafe(24) + "@:/?#%"
    config = tmp_path / "redis.conf"  # not on the command line, where `ps` would show the password
    config.write_text(f'requirepass "{password}"\n')
    server = processes.redis_server(config=config)
    return LockedRedis(port=server.port, password=password, proc=server.proc)


def url_form(redis: LockedRedis, password: str | None = None) -> dict[str, str]:
    password = redis.password if password is None else password
    return {"REDIS_URL": f"redis://:{quote(password, safe='')}@127.0.0.1:{redis.port}/0"}


def parts_form(redis: LockedRedis, password: str | None = None) -> dict[str, str]:
    return {
        "REDIS_URL": "",  # unset: the per-part form applies
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": str(redis.port),
        "REDIS_PASSWORD": redis.password if password is None else password,
        "REDIS_DB": "0",
    }


FORMS = {"url": url_form, "parts": parts_form}


def configure(monkeypatch, variables: dict[str, str]) -> override_settings:
    """This process's settings as if started with `variables`."""
    for name in ("REDIS_URL", "REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD", "REDIS_DB"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        if value:
            monkeypatch.setenv(name, value)
    return override_settings(RQ_QUEUES={queue.QUEUE_NAME: {**redis_config(), "DEFAULT_TIMEOUT": 300}})


def worker_env(variables: dict[str, str]) -> dict[str, str]:
    env = process_env()
    for name in ("REDIS_URL", "REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD", "REDIS_DB"):
        env.pop(name, None)
    env.update({name: value for name, value in variables.items() if value})
    return env


def assert_no_secret(text: str, *secrets_: str) -> None:
    for secret in secrets_:
        assert secret not in text and quote(secret, safe="") not in text


@pytest.mark.parametrize("form", FORMS)
def test_a_worker_runs_jobs_on_a_redis_with_a_password(client, processes, locked_redis, monkeypatch, form):
    variables = FORMS[form](locked_redis)
    env = worker_env(variables)
    with configure(monkeypatch, variables):
        assert queue.get_connection().ping()
        processes.worker(env=env)
        wait_for(lambda: queue.get_queue_stats().workers == 1, timeout=30)

        name = f"locked-{form}"
        queue.put("tests.jobs.record", job_id=name, at=timezone.now(), args=(name,))
        wait_for(lambda: jobs.runs(name), timeout=30)
        # workers flush their counters every couple of seconds
        wait_for(lambda: queue.get_queue_stats().completed == 1, timeout=10)

        response = client.get("/health")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok" and body["redis"] == "ok" and body["workers"] == 1
    assert body["queues"]["game_events"]["completed"] == 1
    assert_no_secret(response.content.decode(), locked_redis.password)


@pytest.mark.parametrize("form", FORMS)
def test_a_wrong_password_is_a_503_naming_redis_without_showing_it(client, locked_redis, monkeypatch, form):
    # (No password at all is refused the same way, but redis-py 8 retries that refusal for ~45 s:
    # too slow for this suite.)
    wrong = "wrong-" + secrets.token_hex(8)
    with configure(monkeypatch, FORMS[form](locked_redis, password=wrong)):
        response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error" and body["redis"] == "error" and body["database"] == "ok"
    assert set(body) == {"status", "database", "redis", "queues", "workers", "quarantined"}
    assert_no_secret(response.content.decode(), locked_redis.password, wrong)


def test_a_worker_with_a_wrong_password_stops_without_printing_it(processes, locked_redis):
    variables = url_form(locked_redis, password="wrong-" + secrets.token_hex(8))
    proc = processes.worker(env=worker_env(variables))
    assert proc.wait(timeout=60) != 0
    log = processes.logs()
    assert "password" in log, log
    assert_no_secret(log, locked_redis.password, variables["REDIS_URL"].split("@")[0].split(":")[-1])
