"""Django settings for Galactic Conquest.

Everything that varies between machines comes from the environment (or a `.env` file beside
manage.py), read with django-environ; CONTRACT.md lists the variables. Test-only tweaks live in
tests/conftest.py, not here.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from redis import exceptions as redis_errors
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

DEBUG: bool = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. It is required when DEBUG is off: export SECRET_KEY=<a long random "
            "string> (or put it in .env), or set DEBUG=true for local development."
        )
    SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"

ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # Our apps come first so that their management commands (rqscheduler) override django-rq's.
    "galactic",
    "galactic.events",
    "combat",
    "fleets",
    "probes",
    "galactic.events.apps.GameAdminConfig",  # django.contrib.admin, with the queue figures
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_rq",
    "ninja",  # /api/docs: Swagger UI's files from the package (static), not from a CDN
    "axes",  # login throttling: its lockouts are listed, and lifted, in the admin
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Refuses locked-out and concurrent login attempts before any other work (see its docstring).
    "galactic.http.login_gate.LoginGate",
    "galactic.http.middleware.DropMalformedSessionCookie",
    # Before anything reads the body: a request too large for the API is refused unread.
    "galactic.http.middleware.ApiRequestLimits",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # Last, so that it turns a refused login into the lockout page whatever answered it.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "galactic.urls"
WSGI_APPLICATION = "galactic.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------
# SQLite is the embedded default for a first run; production and the test suite use PostgreSQL.
DATABASE_URL: str = env.str("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
if urlsplit(DATABASE_URL).scheme not in ("postgres", "postgresql", "pgsql", "sqlite"):
    # django-environ would answer a bad URL with KeyError: 'ENGINE', and another engine with a
    # missing driver. The URL itself is not shown: it may hold a password.
    _scheme = urlsplit(DATABASE_URL).scheme or "none"
    raise ImproperlyConfigured(
        f"DATABASE_URL is not a PostgreSQL or SQLite URL (scheme: {_scheme}): "
        "write postgres://user:password@host:5432/name, or sqlite:///db.sqlite3 for a local file"
    )
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Workers run many short transactions: keep connections, but check them before reuse so a
    # restarted PostgreSQL costs one failed job (which is retried), not a dead worker.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Parameters bound by the server, and a statement a connection sent DATABASE_PREPARE_THRESHOLD
    # times prepared: PostgreSQL no longer parses again what every event and request sends (it
    # still plans most of them per execution, with their values), and psycopg sends less. An
    # arrival alone costs about a sixth less CPU (bench/README.md, "Four round trips a job").
    # 0 turns preparing off, for a PgBouncer older than 1.21 in transaction mode.
    _prepare_threshold = env.int("DATABASE_PREPARE_THRESHOLD", default=5)
    if _prepare_threshold < 0:
        raise ImproperlyConfigured("DATABASE_PREPARE_THRESHOLD must be 0 (off) or more")
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True, prepare_threshold=_prepare_threshold or None
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Development: the web, a pool of workers and the scheduler share one file. WAL lets readers
    # go on while one writes; BEGIN IMMEDIATE takes the write lock up front, so a transaction
    # waits its turn (up to `timeout` s) instead of failing with "database is locked" when a read
    # turns into a write.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=20,
        transaction_mode="IMMEDIATE",
        init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis and the queue --------------------------------------------------------------------------


# Every Redis call has a deadline, so that a Redis that accepts connections but never answers
# cannot hang anything. The web and one-off commands wait REDIS_SOCKET_TIMEOUT (0.5 s: /health then
# says 503 within a second, and a dispatch that meets a hung Redis opens the circuit breaker of
# galactic.events.queue). Workers and the scheduler block on Redis on purpose (a worker waits for
# jobs up to 5 s at a time), so they raise their own clients' deadline to
# REDIS_WORKER_SOCKET_TIMEOUT when they start, and wait out an outage instead of exiting.
REDIS_SOCKET_TIMEOUT: float = env.float("REDIS_SOCKET_TIMEOUT", default=0.5)
REDIS_WORKER_SOCKET_TIMEOUT: float = env.float("REDIS_WORKER_SOCKET_TIMEOUT", default=10.0)
# Seconds the web stops trying Redis after a call failed (the event waits for reconciliation).
REDIS_BREAKER_SECONDS: float = env.float("REDIS_BREAKER_SECONDS", default=5.0)

REDIS_CLIENT_KWARGS = {
    # Fail fast when Redis is down (the health check and the API must answer, not hang): redis-py
    # 8 otherwise retries every failed call 10 times with backoff, ~45 s for a missing password.
    # Only a broken connection is retried (a restarted Redis leaves stale ones in the pool), not a
    # timeout: a Redis that does not answer costs one socket timeout, not three.
    "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
    "socket_timeout": REDIS_SOCKET_TIMEOUT,
    "socket_keepalive": True,
    "health_check_interval": 30,
    "retry": Retry(
        ExponentialBackoff(cap=0.1, base=0.02), retries=2, supported_errors=(redis_errors.ConnectionError,)
    ),
}


def redis_config() -> dict:
    """django-rq connection settings, from the first of these that is set:

    - REDIS_SENTINELS ("host:port,host:port") with REDIS_SENTINEL_MASTER: Sentinel finds the
      primary, and clients follow a failover;
    - REDIS_URL;
    - the older REDIS_HOST/PORT/PASSWORD/DB form.

    The URL is split into parts so that the socket options apply to every form.
    """
    sentinels = env.list("REDIS_SENTINELS", default=[])
    if sentinels:
        return sentinel_config(sentinels)
    url = env.str("REDIS_URL", default="")
    if url or not env.str("REDIS_HOST", default=""):
        parts = urlsplit(url or "redis://localhost:6379/0")
        if parts.scheme not in ("redis", "rediss"):
            raise ImproperlyConfigured(
                f"REDIS_URL must start with redis:// or rediss://, not {parts.scheme}://"
            )
        config = {
            "HOST": parts.hostname or "localhost",
            "PORT": parts.port or 6379,
            "DB": int(parts.path.lstrip("/") or 0),
            "USERNAME": unquote(parts.username) if parts.username else None,
            "PASSWORD": unquote(parts.password) if parts.password else None,
            "SSL": parts.scheme == "rediss",
        }
    else:
        config = {
            "HOST": env.str("REDIS_HOST"),
            "PORT": env.int("REDIS_PORT", default=6379),
            "DB": env.int("REDIS_DB", default=0),
            "PASSWORD": env.str("REDIS_PASSWORD", default="") or None,
        }
    config["REDIS_CLIENT_KWARGS"] = REDIS_CLIENT_KWARGS
    return config


def sentinel_config(sentinels: list[str]) -> dict:
    master = env.str("REDIS_SENTINEL_MASTER", default="")
    if not master:
        raise ImproperlyConfigured("REDIS_SENTINELS is set: REDIS_SENTINEL_MASTER must name the primary")
    hosts = []
    for entry in sentinels:
        host, _, port = entry.rpartition(":")
        if not host or not port.isdigit():
            raise ImproperlyConfigured(f"REDIS_SENTINELS entries are host:port, not {entry!r}")
        hosts.append((host, int(port)))
    return {
        "SENTINELS": hosts,
        "MASTER_NAME": master,
        "DB": env.int("REDIS_DB", default=0),
        "PASSWORD": env.str("REDIS_PASSWORD", default="") or None,
        "SOCKET_TIMEOUT": REDIS_SOCKET_TIMEOUT,
        "CONNECTION_KWARGS": REDIS_CLIENT_KWARGS,
        # the sentinels themselves: answer fast, so a dead one is skipped quickly
        "SENTINEL_KWARGS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }


GAME_QUEUE = "game_events"
RQ_QUEUES = {GAME_QUEUE: {**redis_config(), "DEFAULT_TIMEOUT": 300}}
RQ = {
    # In-process worker (no fork per job) with Django connection hygiene: see galactic/events/worker.py.
    "WORKER_CLASS": "galactic.events.worker.GameWorker",
}
RQ_SHOW_ADMIN_LINK = True

# Failed game events are retried this many times, after these delays (seconds), then kept in the
# failed registry where the dashboard can requeue them.
GAME_EVENT_RETRY_DELAYS: list[int] = [
    int(x) for x in env.list("GAME_EVENT_RETRY_DELAYS", default=["5", "30", "120"])
]
# Crash recovery hands a job whose worker died back to the queue this many times; the next crash
# quarantines it (galactic.events.attempts), as BullMQ's maxStalledCount does.
GAME_EVENT_MAX_HANDBACKS: int = env.int("GAME_EVENT_MAX_HANDBACKS", default=2)
if GAME_EVENT_MAX_HANDBACKS < 0:
    raise ImproperlyConfigured(f"GAME_EVENT_MAX_HANDBACKS must be 0 or more, got {GAME_EVENT_MAX_HANDBACKS}")
# Seconds a finished event's job (and RQ's result stream, ~5 KB) stays in Redis. 0 by default: the
# database holds the outcome, and `completed` comes from the workers' counters (galactic.events.metrics).
GAME_EVENT_RESULT_TTL: int = env.int("GAME_EVENT_RESULT_TTL", default=0)
# Most jobs of one kind (fleet:arrival, fleet:return) a worker runs together in one transaction when
# they are due together; see galactic/events/worker.py. 1 turns batching off.
GAME_EVENT_BATCH_SIZE: int = env.int("GAME_EVENT_BATCH_SIZE", default=100)
if GAME_EVENT_BATCH_SIZE < 1:
    raise ImproperlyConfigured(f"GAME_EVENT_BATCH_SIZE must be at least 1, got {GAME_EVENT_BATCH_SIZE}")

# Prometheus scrapes GET /metrics with `Authorization: Bearer <METRICS_TOKEN>` (staff may browse it).
METRICS_TOKEN: str = env.str("METRICS_TOKEN", default="")

# --- Game -----------------------------------------------------------------------------------------
GAME_SPEED: float = env.float("GAME_SPEED", default=1.0)
if GAME_SPEED <= 0:
    raise ImproperlyConfigured(f"GAME_SPEED must be positive, got {GAME_SPEED}")
PROBE_UPDATE_INTERVAL: int = env.int("PROBE_UPDATE_INTERVAL", default=60)
if PROBE_UPDATE_INTERVAL < 1:
    raise ImproperlyConfigured(
        f"PROBE_UPDATE_INTERVAL must be at least 1 second, got {PROBE_UPDATE_INTERVAL}"
    )

# --- Web ------------------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"

# --- Hostile clients ------------------------------------------------------------------------------
# The CSRF token lives in the session, not in a cookie of its own: it dies with the session and
# changes at every login. The players' page reads it from its own HTML.
CSRF_USE_SESSIONS = True

# Login throttling (django-axes), for the players' login and the admin's alike. The throttle's
# backend comes first, so that a locked-out attempt is refused before any password hash is computed.
AUTHENTICATION_BACKENDS = [
    "galactic.http.throttle.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Django's default hashers, the first (PBKDF2, which every new password gets) computing its rounds
# at the lowest CPU priority: a password check uses only the CPU the other requests leave
# (galactic/passwords.py). Same algorithm and rounds: existing password hashes stay valid.
PASSWORD_HASHERS = [
    "galactic.passwords.LowPriorityPBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
# LOGIN_THROTTLE=false turns all of it off (a load test's own server, say).
AXES_ENABLED: bool = env.bool("LOGIN_THROTTLE", default=True)
# After this many failed logins for one account, or from one client address, further attempts are
# refused (429) until LOGIN_LOCKOUT_MINUTES have passed since the last counted failure.
AXES_FAILURE_LIMIT: int = env.int("LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("LOGIN_LOCKOUT_MINUTES", default=15))
if AXES_FAILURE_LIMIT < 1 or AXES_COOLOFF_TIME.total_seconds() <= 0:
    raise ImproperlyConfigured("LOGIN_FAILURE_LIMIT and LOGIN_LOCKOUT_MINUTES must be positive")
# After a failed login, the next attempt for that account or from that address is checked no sooner
# than this many seconds later (galactic.http.login_gate); 0 turns the pause off.
LOGIN_RETRY_SECONDS: float = env.float("LOGIN_RETRY_SECONDS", default=2)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one locks: per account, per address
# Attempts made while locked out are not counted: the lockout ends on time even under a running
# attack, and refusing one costs reads only.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "galactic.http.throttle.lockout_response"
# Behind TRUSTED_PROXIES reverse proxies, a client's address is the one the outermost of them put
# in X-Forwarded-For (counted from the right: what a client writes there itself is ignored);
# with 0, the address the connection comes from.
TRUSTED_PROXIES: int = env.int("TRUSTED_PROXIES", default=0)
AXES_CLIENT_IP_CALLABLE = "galactic.http.throttle.client_address"
AXES_VERBOSE = False  # lockouts are logged as warnings; not every successful login

# A player's writes (fleet dispatches, probe launches, recalls): at most API_WRITE_LIMIT per
# API_WRITE_WINDOW seconds, counted in Redis across every web process; 0 turns the limit off.
API_WRITE_LIMIT: int = env.int("API_WRITE_LIMIT", default=600)
API_WRITE_WINDOW: int = env.int("API_WRITE_WINDOW", default=60)
if API_WRITE_LIMIT < 0 or API_WRITE_WINDOW < 1:
    raise ImproperlyConfigured("API_WRITE_LIMIT must be 0 or more and API_WRITE_WINDOW at least 1 second")
# Largest request body the API reads (every order is well under 1 KB); a larger one gets 413, after
# its body is read and dropped (up to API_DRAIN_MAX_BYTES) so that the client can read the answer.
API_MAX_BODY_BYTES: int = env.int("API_MAX_BODY_BYTES", default=64 * 1024)
API_DRAIN_MAX_BYTES: int = env.int("API_DRAIN_MAX_BYTES", default=16 * 1024 * 1024)

# The players' pages (login, game) allow no inline script or style, and nothing from elsewhere.
PLAYERS_CSP: dict[str, list[str]] = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}

if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=True)
    CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=True)
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
    # Both widen what HSTS commits the domain to (every subdomain; browsers' built-in list), so
    # they are the operator's explicit choice. `check --deploy` warns while they are off.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

RQ_LOG_LEVEL: str = env.str("RQ_LOG_LEVEL", default="WARNING")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # axes notes every login at INFO; its lockouts are WARNINGs
    "loggers": {"rq.worker": {"level": RQ_LOG_LEVEL}, "axes": {"level": "WARNING"}},
}

# Where galactic.events.reconcile finds the events the database says must still happen.
GAME_EVENT_SOURCES: list[str] = [
    "fleets.selectors.pending_events",
    "combat.selectors.pending_events",
]
# The admin's stuck-events page lists pending events overdue by more than this many seconds.
STUCK_EVENT_SECONDS: int = env.int("STUCK_EVENT_SECONDS", default=60)

# Periodic jobs run by `manage.py rqscheduler`: (fixed id, job path, interval in seconds).
RECONCILE_INTERVAL: int = env.int("RECONCILE_INTERVAL", default=30)
GAME_PERIODIC_JOBS: list[tuple[str, str, int]] = [
    ("probe-update", "probes.jobs.probe_update", PROBE_UPDATE_INTERVAL),
    ("reconcile-events", "galactic.events.jobs.reconcile_events", RECONCILE_INTERVAL),
]
GAME_SCHEDULER_POLL: int = env.int("GAME_SCHEDULER_POLL", default=1)
