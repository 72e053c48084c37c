"""`manage.py check --deploy` passes, warning-free, with production settings from the environment.

Each run is a fresh interpreter with only the environment below (nothing inherited from the test
settings), so it sees exactly what a production box would.
"""

from __future__ import annotations

import os
import secrets
import subprocess

import pytest

from tests.conftest import Processes

# What an operator sets on a production box (see deploy/.env.example).
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(64),  # 86 characters, many distinct
    "ALLOWED_HOSTS": "example.com",
    "CSRF_TRUSTED_ORIGINS": "https://example.com",
    "SECURE_COOKIES": "true",  # the default, but a developer's .env must not turn it off here
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "DATABASE_URL": "postgres://galactic:secret@db.internal.example:5432/galactic",
    "REDIS_URL": "redis://:secret@redis.internal.example:6379/0",
}
# Variables the settings read: none may leak in from the environment of the test run.
SETTINGS_VARIABLES = {
    *PRODUCTION,
    "REDIS_HOST",
    "REDIS_PORT",
    "REDIS_PASSWORD",
    "REDIS_DB",
    "DJANGO_SETTINGS_MODULE",
}


def deploy_check(processes: Processes, **changes: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES}
    env.update(PRODUCTION, DJANGO_SETTINGS_MODULE="galactic.settings")
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return processes.run("manage.py", "check", "--deploy", "--fail-level", "WARNING", env=env)


def test_production_settings_pass_the_deploy_check_without_a_warning(processes):
    result = deploy_check(processes)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("changes", "check_id"),
    [
        ({"SECURE_COOKIES": "false"}, "security.W012"),  # session cookie over plain HTTP
        ({"SECURE_SSL_REDIRECT": None}, "security.W008"),
        ({"SECURE_HSTS_SECONDS": None}, "security.W004"),
        ({"SECURE_HSTS_INCLUDE_SUBDOMAINS": None}, "security.W005"),
        ({"SECRET_KEY": "short-and-guessable"}, "security.W009"),
        ({"DEBUG": "true"}, "security.W018"),
    ],
)
def test_the_check_sees_a_weakened_setting(processes, changes, check_id):
    """The control: the same command fails when one setting is weakened, so its silence above means
    the settings are right, not that nothing was checked."""
    result = deploy_check(processes, **changes)
    assert result.returncode != 0
    assert check_id in result.stderr + result.stdout
