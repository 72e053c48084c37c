"""Settings for the test suite: the real PostgreSQL and a dedicated Redis database index.

Each can be pointed elsewhere with the usual variables (TEST_DATABASE_URL, TEST_REDIS_URL).
"""

import os

os.environ["DEBUG"] = "true"
os.environ["DATABASE_URL"] = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
os.environ["REDIS_URL"] = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("GAME_EVENT_RETRY_DELAYS", "1,2,3")

from galactic.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
