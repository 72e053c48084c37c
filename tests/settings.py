"""Settings for the test suite: the real PostgreSQL and Redis.

Each run gets a database (and, unless told otherwise, a Redis database index) of its own, so two
test runs on one machine do not trample each other. TEST_DATABASE_URL and TEST_REDIS_URL point
them elsewhere.
"""

import os

_run = os.getpid()
os.environ["DEBUG"] = "true"
os.environ["DATABASE_URL"] = os.environ.get(
    "TEST_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/gc_{_run}"
)
os.environ["REDIS_URL"] = os.environ.get("TEST_REDIS_URL", f"redis://127.0.0.1:6379/{1 + _run % 15}")
os.environ.setdefault("GAME_EVENT_RETRY_DELAYS", "1,2,3")

from galactic.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tests retry a login right after a failure; the pause after one is tested on its own.
LOGIN_RETRY_SECONDS = 0
