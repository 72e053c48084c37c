"""What every benchmark shares: a private Redis and PostgreSQL database, real processes, the output.

A benchmark module runs in a process of its own (bench/run.py starts one per benchmark), so it can
point Django at its own database and Redis before `django.setup()`:

    with Stack("lateness") as stack:          # redis-server on a free loopback port, database
        worker = stack.game_worker()           # bench_lateness_<pid>, migrated; Django set up here
        ...
        stack.stop(worker)                     # SIGTERM to that PID, then SIGKILL if it hangs
    # every process it started is stopped (by PID), the database dropped, Redis stopped

Only loopback addresses are used. Processes are stopped by the PIDs this module started (and the
children those PIDs forked, found through /proc), never by name.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
RQ_CLI = str(Path(PYTHON).parent / "rq")
POSTGRES = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
LOOPBACK = "127.0.0.1"


# --- output -----------------------------------------------------------------------------------------


def emit(result: dict) -> None:
    """One benchmark, one JSON object, one line on stdout."""
    print(json.dumps(result), flush=True)


def note(message: str) -> None:
    """Progress on stderr (stdout carries only the JSON lines)."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def distribution(values: Iterable[float], scale: float = 1000.0, digits: int = 2) -> dict:
    """min, p50, p95, p99, max (scaled, by default seconds -> ms) and the count of a sample."""
    ordered = sorted(values)
    pick = {
        "min": ordered[0] if ordered else None,
        "p50": percentile(ordered, 50),
        "p95": percentile(ordered, 95),
        "p99": percentile(ordered, 99),
        "max": ordered[-1] if ordered else None,
    }
    out = {k: (round(v * scale, digits) if v is not None else None) for k, v in pick.items()}
    out["count"] = len(ordered)
    return out


def free_port() -> int:
    """A TCP port nothing listens on at the moment, on the loopback address."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class RedisServer:
    port: int
    proc: subprocess.Popen


def start_redis_server(
    directory: Path, *args: str, config: Path | None = None, port: int | None = None, log: Path | None = None
) -> RedisServer:
    """A redis-server on a loopback port (a free one unless given) that keeps nothing on disk, its
    files in `directory`; returned once it accepts connections. `config` (a file, so that a password
    never shows on the command line) is read first; `args` (e.g. "--sentinel") come last. The
    caller stops it by its PID; a server that does not answer within 10 s is stopped here."""
    port = port or free_port()
    command = [shutil.which("redis-server") or "redis-server", *([str(config)] if config else [])]
    command += ["--port", str(port), "--bind", LOOPBACK, "--save", "", "--appendonly", "no"]
    command += ["--dir", str(directory), *args]
    with open(log or os.devnull, "ab") as out:
        proc = subprocess.Popen(command, cwd=directory, stdout=out, stderr=subprocess.STDOUT)
    if not wait_until(lambda: _accepts(port) or proc.poll() is not None, 10) or proc.poll() is not None:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        raise RuntimeError(f"redis-server on port {port} did not start (exit {proc.returncode}); log: {log}")
    return RedisServer(port, proc)


def _accepts(port: int) -> bool:
    """Whether something accepts connections on the port (a password or Sentinel mode does not matter)."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def children_of(pid: int) -> list[int]:
    """PIDs of every living descendant of `pid` (read from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process, plus that of the children it has waited for."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds used by groups of processes between start() and stop(): {group: seconds}."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups

    def start(self) -> CpuMeter:
        self.before = {name: [cpu_seconds(p) for p in pids] for name, pids in self.groups.items()}
        return self

    def stop(self) -> dict[str, float]:
        return {
            name: sum(cpu_seconds(p) - b for p, b in zip(pids, self.before[name], strict=True))
            for name, pids in self.groups.items()
        }


# --- the stack --------------------------------------------------------------------------------------


class Stack:
    """A private redis-server and PostgreSQL database, Django configured on them, and the processes
    a benchmark starts. Use as a context manager; everything is torn down on exit."""

    def __init__(
        self, name: str, *, migrate: bool = True, redis_args: tuple[str, ...] = (), **env: str
    ) -> None:
        self.name = name
        self.redis_args = redis_args
        self.migrate = migrate
        self.database = f"bench_{name}_{os.getpid()}"
        self.redis_port = free_port()
        self.redis_url = f"redis://{LOOPBACK}:{self.redis_port}/0"
        self.log_dir = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
        self.procs: list[subprocess.Popen] = []
        self._spawned = 0
        self.redis_proc: subprocess.Popen | None = None
        self.extra_env = env
        self.secret = secrets.token_hex(32)
        self.load_at_start = os.getloadavg()[0]
        self.cpu_at_start = _cpu_times()

    def machine(self) -> dict:
        """The machine the figures were taken on: CPUs, and the 1-minute load average at the start
        and now (other work on the box shows here: the figures are only as quiet as it was)."""
        now = _cpu_times()
        total = sum(now) - sum(self.cpu_at_start)
        idle = (now[3] + now[4]) - (self.cpu_at_start[3] + self.cpu_at_start[4])
        return {
            "cpus": os.cpu_count(),
            "loadavg_1m_start": round(self.load_at_start, 2),
            "loadavg_1m_end": round(os.getloadavg()[0], 2),
            # all CPUs, all processes (this benchmark's and anyone else's), over the benchmark
            "cpu_busy_pct": round(100 * (1 - idle / total), 1) if total else None,
            "speed": self.speed(),
        }

    def speed(self) -> dict:
        """How fast the box is now, in CPU time, so that runs on different machines can be compared:
        the machine a run gets changes, and on 2026-11-30 the same code and the stock baselines
        took about 1.6 times the CPU (1.3 to 1.9 by run) they had taken on the machine of a few
        hours before (bench/README.md, "A slower machine").
        The best of three rounds of: a fixed pure-Python loop; a Redis PING through redis-py (client
        CPU per call: what any Redis round trip costs at the least); a `SELECT 1` through Django's
        cursor (this process's CPU and its PostgreSQL backend's, per statement).
        """
        from django.db import connection

        def best(rounds: int, calls: int, call: Callable[[], object], pid: int | None = None) -> tuple:
            """(this process's, `pid`'s) CPU seconds per call, in the cheapest round."""
            other = (lambda: cpu_seconds(pid)) if pid else (lambda: 0.0)
            results = []
            for _ in range(rounds):
                began, other_began = time.process_time(), other()
                for _ in range(calls):
                    call()
                results.append(((time.process_time() - began) / calls, (other() - other_began) / calls))
            return min(results)

        def loop() -> int:
            total = 0
            for i in range(1_000_000):
                total += i
            return total

        def select() -> None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()

        redis = self.redis()
        connection.ensure_connection()
        python_s, _ = best(3, 1, loop)
        ping_s, _ = best(3, 1000, redis.ping)
        # the backend's CPU is read from /proc in clock ticks (10 ms): 2,000 statements a round
        select_s, backend_s = best(3, 2000, select, connection.connection.info.backend_pid)
        return {
            "python_loop_ms": round(python_s * 1000, 1),
            "redis_ping_client_us": round(ping_s * 1e6, 1),
            "postgres_select_client_us": round(select_s * 1e6, 1),
            "postgres_select_backend_us": round(backend_s * 1e6, 1),
        }

    # --- environment ---------------------------------------------------------------------------
    def env(self, **overrides: str) -> dict[str, str]:
        """Production-like settings (DEBUG off) on the private database and Redis."""
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="galactic.settings",
            DEBUG="false",
            SECRET_KEY=self.secret,
            SECURE_COOKIES="false",
            ALLOWED_HOSTS="127.0.0.1,localhost",
            DATABASE_URL=f"{POSTGRES.rstrip('/')}/{self.database}",
            REDIS_URL=self.redis_url,
            GAME_SPEED="1",
            # Finished jobs kept, so that their timings can be read back from the job hashes, as
            # stock RQ keeps its results (500 s by default) in the baselines: like for like.
            GAME_EVENT_RESULT_TTL="600",
            LOG_LEVEL="WARNING",
            PYTHONUNBUFFERED="1",
            PYTHONPATH=str(REPO),
        )
        env.update(self.extra_env)
        env.update(overrides)
        return env

    def __enter__(self) -> Stack:
        # bench/run.py stops an overrunning benchmark with SIGTERM: clean up as on Ctrl-C
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            self.start_redis()
            self.create_database()
            os.environ.update(self.env())
            sys.path.insert(0, str(REPO))
            import django

            django.setup()
            if self.migrate:
                from django.core.management import call_command

                call_command("migrate", verbosity=0)
        except BaseException:
            self.close(ok=False)
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(ok=exc_type is None)

    def close(self, ok: bool = True) -> None:
        self.stop_all(list(self.procs))
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # Django never set up
            pass
        self.drop_database()
        if self.redis_proc is not None:
            self.stop(self.redis_proc)
        if ok and not os.environ.get("BENCH_KEEP_LOGS"):
            shutil.rmtree(self.log_dir, ignore_errors=True)
        else:
            note(f"{self.name}: logs kept in {self.log_dir}")

    # --- PostgreSQL ----------------------------------------------------------------------------
    def admin_sql(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(f"{POSTGRES.rstrip('/')}/postgres", autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self) -> None:
        self.admin_sql(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        self.admin_sql(f'CREATE DATABASE "{self.database}"')

    def postgres_backends(self) -> list[int]:
        """PIDs of the PostgreSQL backends serving this benchmark's database (but not this process)."""
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [self.database],
            )
            return [row[0] for row in cursor.fetchall()]

    def drop_database(self) -> None:
        try:
            self.admin_sql(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        except Exception as error:  # report, but let the other clean-ups run
            note(f"could not drop {self.database}: {error}")

    # --- Redis ---------------------------------------------------------------------------------
    def start_redis(self) -> None:
        self._spawned += 1
        log = self.log_dir / f"redis-{self._spawned}.log"
        server = start_redis_server(self.log_dir, *self.redis_args, port=self.redis_port, log=log)
        self.redis_proc = server.proc
        if not wait_until(self._redis_answers, 10):
            raise RuntimeError("redis-server did not answer PING")

    def _redis_answers(self) -> bool:
        try:
            return bool(self.redis().ping())
        except Exception:
            return False

    def redis(self, **kwargs):
        """A Redis client of this benchmark's own (not the app's pooled one)."""
        from redis import Redis

        return Redis(host=LOOPBACK, port=self.redis_port, db=0, **kwargs)

    # --- processes -----------------------------------------------------------------------------
    def _popen(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        self._spawned += 1
        path = self.log_dir / f"{name}-{self._spawned}.log"
        with open(path, "ab") as log:
            proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        proc.log_path = path  # what it printed, for a benchmark that waits for a word from it
        return proc

    def spawn(self, name: str, args: list[str], **env: str) -> subprocess.Popen:
        proc = self._popen(name, args, self.env(**env))
        self.procs.append(proc)
        return proc

    def game_worker(self, **env: str) -> subprocess.Popen:
        """`python manage.py rqworker game_events`: a GameWorker, as deployed (its promoter runs
        whatever the flags)."""
        return self.spawn("gameworker", [PYTHON, "manage.py", "rqworker", "game_events"], **env)

    def rq_worker(
        self, queue: str, *, worker_class: str | None = None, scheduler: bool = False
    ) -> subprocess.Popen:
        """A plain stock `rq worker` on this Redis (no Django). Like `manage.py rqworker` (verbosity
        1), it logs each job at INFO: both write their log to a file here."""
        args = [RQ_CLI, "worker", queue, "--url", self.redis_url, "--path", str(REPO)]
        if worker_class:
            args += ["--worker-class", worker_class]
        if scheduler:
            args.append("--with-scheduler")
        return self.spawn("rqworker", args)

    def wait_workers(self, queue: str, count: int, timeout: float = 30) -> None:
        """Until `count` workers are registered on `queue` (then a moment for their threads)."""
        redis = self.redis()
        if not wait_until(lambda: redis.scard(f"rq:workers:{queue}") >= count, timeout, 0.1):
            raise RuntimeError(f"{count} workers on {queue} did not start; logs in {self.log_dir}")
        time.sleep(0.5)

    def stop(self, proc: subprocess.Popen, timeout: float = 20) -> None:
        """SIGTERM to the PID (warm shutdown), SIGKILL to it and its children if it hangs."""
        self.stop_all([proc], timeout)

    def stop_all(self, procs: Iterable[subprocess.Popen], timeout: float = 20) -> None:
        """Stop these processes and what they forked (see stop_processes)."""
        procs = list(procs)
        stop_processes(procs, timeout)
        for proc in procs:
            if proc in self.procs:
                self.procs.remove(proc)


def stop_processes(procs: Iterable[subprocess.Popen], timeout: float = 20) -> None:
    """Stop these processes (SIGTERM to all, so they shut down in parallel; SIGKILL to any still
    there after `timeout` s), then any child they forked that outlived them (a stock worker's
    scheduler or work horse), by PID."""
    procs = [proc for proc in procs if proc.poll() is None]
    children = {pid: _cmdline(pid) for proc in procs for pid in children_of(proc.pid)}
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for pid, cmdline in children.items():
        if cmdline and _cmdline(pid) == cmdline:  # still the same process, not a recycled PID
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _cpu_times() -> list[int]:
    """The machine's CPU time counters (user, nice, system, idle, iowait, ...) from /proc/stat."""
    return [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def wsgi_call(
    application,
    method: str,
    path: str,
    token: str | None = None,
    body: bytes = b"",
    content_type: str = "application/json",
) -> Callable[[], int]:
    """A call of the WSGI application with a fresh environ each time, as gunicorn makes it: its
    status. `token` goes in the Authorization header, when given. The statuses of every call are
    kept in `call.statuses`."""
    base = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_CONNECTION": "close",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.errors": io.StringIO(),
    }
    if token is not None:
        base["HTTP_AUTHORIZATION"] = f"Token {token}"
    if body:
        base.update(CONTENT_TYPE=content_type, CONTENT_LENGTH=str(len(body)))
    statuses = []

    def start_response(status: str, headers: list, exc_info: object = None) -> None:
        statuses.append(int(status.split(" ", 1)[0]))

    def call() -> int:
        environ = dict(base, **{"wsgi.input": io.BytesIO(body)})
        response = application(environ, start_response)
        try:
            b"".join(response)
        finally:
            response.close()
        return statuses[-1]

    call.statuses = statuses
    return call
