"""`manage.py check_queue` against the real Redis and real worker processes, and the one-line
errors of the operator commands when Redis or the database is out of reach."""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from bench.harness import free_port
from galactic.events import queue
from tests.conftest import Processes, process_env, wait_for

CHECKS = [
    "Redis Connection",
    "Queue Job Creation",
    "Delayed Job Scheduling",
    "Worker Processing",
    "Custom Job ID (Idempotency)",
    "GameEvents Queue Access",
]
LINE = re.compile(r"^(✅|❌) (.+) \((\d+\.\d) ms\): .+$")


def manage(processes: Processes, *args: str, **env: str) -> subprocess.CompletedProcess:
    return processes.run("manage.py", *args, env=process_env(**env))


def check_lines(stdout: str) -> dict[str, str]:
    """{check name: ✅ or ❌} from the command's output; every check line has its milliseconds."""
    marks = {}
    for line in stdout.splitlines()[:-1]:
        match = LINE.match(line)
        assert match, f"not a check line: {line!r}"
        marks[match.group(2)] = match.group(1)
    return marks


def leftovers(redis_conn) -> list[str]:
    """Anything of the check left in Redis: job hashes, marks, ids in the queue or a registry."""
    q = queue.get_queue()
    keys = [k.decode() for k in redis_conn.keys("*check-queue*")]
    queued = [i.decode() for i in redis_conn.lrange(q.key, 0, -1)]
    registries = (q.scheduled_job_registry, q.failed_job_registry, q.finished_job_registry)
    registered = [m.decode() for r in registries for m in redis_conn.zrange(r.key, 0, -1)]
    return keys + queued + registered


def test_all_six_checks_pass_against_a_running_worker_and_nothing_is_left(redis_conn, processes):
    processes.worker("--with-scheduler")
    wait_for(lambda: queue.live_workers(queue.get_queue()) >= 1, timeout=30)

    result = manage(processes, "check_queue")

    assert result.returncode == 0, result.stdout + result.stderr + processes.logs()
    assert check_lines(result.stdout) == dict.fromkeys(CHECKS, "✅")
    assert result.stdout.splitlines()[-1] == "All 6 checks passed!"
    assert "1 live worker;" in result.stdout
    assert leftovers(redis_conn) == []


def test_without_a_worker_the_worker_check_fails_and_says_so(redis_conn, processes):
    started = time.monotonic()
    result = manage(processes, "check_queue")

    assert result.returncode == 1
    assert time.monotonic() - started < 30  # no worker: the check does not wait for one
    expected = {name: "❌" if name == "Worker Processing" else "✅" for name in CHECKS}
    assert check_lines(result.stdout) == expected
    assert "no worker is running on game_events" in result.stdout
    assert result.stdout.splitlines()[-1] == "5 of 6 checks passed; failed: Worker Processing"
    assert leftovers(redis_conn) == []


def test_with_redis_unreachable_check_queue_fails_fast_in_one_line(processes):
    url = f"redis://127.0.0.1:{free_port()}/0"
    started = time.monotonic()
    result = manage(processes, "check_queue", REDIS_URL=url)

    assert result.returncode == 1
    assert time.monotonic() - started < 15
    assert result.stderr == ""
    [line] = result.stdout.splitlines()
    assert line.startswith("❌ Redis Connection (")
    assert f"Redis does not answer at {url} (REDIS_URL): " in line


@pytest.mark.parametrize("command", ["reconcile_events", "rqstats"])
def test_operator_commands_say_in_one_line_that_redis_is_unreachable(command, processes):
    url = f"redis://127.0.0.1:{free_port()}/0"
    result = manage(processes, command, REDIS_URL=url)

    assert result.returncode != 0
    [line] = result.stderr.splitlines()
    assert line.startswith(f"CommandError: Redis does not answer at {url} (REDIS_URL): ")
    assert "Connection refused" in line


def test_a_malformed_database_url_is_named_in_one_line(processes):
    result = manage(processes, "check", DATABASE_URL="not-a-url")

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: DATABASE_URL is not a PostgreSQL or SQLite URL (scheme: none): write "
        "postgres://user:password@host:5432/name, or sqlite:///db.sqlite3 for a local file"
    ]


def test_an_unreachable_database_is_named_in_one_line(processes):
    port = free_port()
    result = manage(processes, "migrate", DATABASE_URL=f"postgres://postgres@127.0.0.1:{port}/galactic")

    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: the database does not answer at postgres://127.0.0.1:{port}/galactic")
    assert "Connection refused" in line
