"""Settings fail clearly on bad configuration, in a fresh interpreter each time."""

from __future__ import annotations

import os
import subprocess

from tests.conftest import Processes

SHOW = (
    "from django.conf import settings; "
    "print(settings.RQ_QUEUES['game_events']['HOST'], settings.DATABASES['default']['ENGINE'])"
)


def run_settings(processes: Processes, **env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "REDIS_URL", "DATABASE_URL"}
    }
    clean.update(DJANGO_SETTINGS_MODULE="galactic.settings", **env)
    code = f"import django; django.setup(); {SHOW}"
    return processes.run("-c", code, env=clean)


def test_production_mode_without_secret_key_fails_with_a_clear_message(processes):
    result = run_settings(processes, DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_production_mode_with_secret_key_starts(processes):
    result = run_settings(processes, DEBUG="false", SECRET_KEY="x" * 50)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["localhost", "django.db.backends.sqlite3"]


def test_older_redis_host_form_is_used_when_redis_url_is_unset(processes):
    result = run_settings(processes, DEBUG="true", REDIS_HOST="127.0.0.2", REDIS_PORT="6380", REDIS_DB="3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "127.0.0.2"


def test_bad_redis_url_is_refused_clearly(processes):
    result = run_settings(processes, DEBUG="true", REDIS_URL="http://localhost:6379")
    assert result.returncode != 0
    assert "REDIS_URL must start with redis://" in result.stderr


def test_a_negative_prepare_threshold_is_refused_clearly(processes):
    result = run_settings(
        processes,
        DEBUG="true",
        DATABASE_URL="postgres://postgres@127.0.0.1/x",
        DATABASE_PREPARE_THRESHOLD="-1",
    )
    assert result.returncode != 0
    assert "DATABASE_PREPARE_THRESHOLD must be 0 (off) or more" in result.stderr


def test_prepared_statements_can_be_turned_off(processes):
    show = "from django.conf import settings; print(settings.DATABASES['default']['OPTIONS'])"
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "DATABASE_URL"}}
    clean.update(
        DJANGO_SETTINGS_MODULE="galactic.settings",
        DEBUG="true",
        DATABASE_URL="postgres://postgres@127.0.0.1/x",
        DATABASE_PREPARE_THRESHOLD="0",
    )
    result = processes.run("-c", f"import django; django.setup(); {show}", env=clean)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "{'server_side_binding': True, 'prepare_threshold': None}"
