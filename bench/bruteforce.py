"""Brute force on the login: other players' API latency with and without 200 wrong passwords.

    .venv/bin/python -m bench.bruteforce [--attempts 200] [--concurrency 8] [--web-workers 3]
                                         [--diagnose] [--attacker-process]

gunicorn runs as deployed (sync workers, DEBUG off, Django's default PBKDF2 password hasher) on a
private database and Redis. Eight other players read their home planet through the API with their
tokens, each once every 100 ms (80 requests/s in all), while:

1. nothing else happens (the baseline, 5 s);
2. an attacker posts ATTEMPTS wrong passwords for one player to /login/, CONCURRENCY at a time,
   with login throttling as configured (LOGIN_FAILURE_LIMIT 10): one attempt per account and
   address is checked at a time, and after the limit attempts are refused before any password
   hash is computed;
3. the same attack on a server with login throttling off (LOGIN_THROTTLE=false): every attempt
   costs a full password hash, as before throttling existed.

Each attack window is measured from its first attempt to its last answer (at least 5 s). Target:
the other players' p95 during the throttled attack is within 2x the baseline's.

--diagnose adds, for each server, where the other players' time went (`diagnosis`): their latency
while a password was being checked, while only refusals were being answered, and after the
attack's last answer; the time gunicorn spent on each kind of request (its access log, which the
plain run does not write); and the CPU seconds of gunicorn, PostgreSQL, Redis and this load
generator during the attack. --attacker-process runs the attacker in a process of its own, so that
its threads do not share this process's GIL with the readers' (a real attacker is elsewhere).
"""

from __future__ import annotations

import argparse
import http.client
import logging
import multiprocessing
import os
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

from bench.harness import (
    PYTHON,
    CpuMeter,
    Stack,
    children_of,
    distribution,
    emit,
    free_port,
    note,
    wait_until,
    wsgi_call,
)

READERS = 8
READ_INTERVAL = 0.1  # seconds between two reads of one player
MIN_WINDOW = 5.0
TIMEOUT = 30.0


def call(port: int, method: str, path: str, body: bytes = b"", headers: dict | None = None):
    """(status, headers, body); status "error" when the connection failed or timed out (gunicorn
    kills a sync worker silent for 30 s: a queue of password hashes gets there)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        conn.request(method, path, body=body or None, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    except (OSError, http.client.HTTPException):
        return "error", {}, b""
    finally:
        conn.close()


class Readers:
    """Players reading their home planet on a fixed pace; latencies recorded with their start time."""

    def __init__(self, port: int, players: list[dict]) -> None:
        self.port = port
        self.players = players
        self.samples: list[tuple[float, float, int | str]] = []  # (start, seconds, status)
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.read, args=(p,), daemon=True) for p in players]

    def read(self, player: dict) -> None:
        headers = {"Authorization": f"Token {player['token']}"}
        next_at = time.monotonic()
        while not self.stop.is_set():
            start = time.monotonic()
            status, _, _ = call(self.port, "GET", f"/api/planets/{player['home']}", headers=headers)
            self.samples.append((start, time.monotonic() - start, status))
            next_at += READ_INTERVAL
            self.stop.wait(max(0.0, next_at - time.monotonic()))

    def __enter__(self) -> Readers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(TIMEOUT)

    def between(self, start: float, end: float) -> dict:
        window = [(took, status) for at, took, status in self.samples if start <= at < end]
        return {
            "requests": len(window),
            "latency_ms": distribution(took for took, _ in window),
            "statuses": {str(k): v for k, v in Counter(s for _, s in window).items()},
        }


def attack(port: int, attempts: int, concurrency: int) -> list[tuple[float, float, int | str]]:
    """ATTEMPTS wrong passwords for `victim`, CONCURRENCY at a time, with one visitor session:
    (start, end, status) of each, on the monotonic clock (shared by every process of the machine)."""
    _, headers, page = call(port, "GET", "/login/")
    cookie = headers["Set-Cookie"].split(";")[0]
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()

    def guess(n: int) -> tuple[float, float, int | str]:
        body = urlencode({"csrfmiddlewaretoken": token, "username": "victim", "password": f"guess-{n}"})
        start = time.monotonic()
        status, _, _ = call(
            port,
            "POST",
            "/login/",
            body.encode(),
            {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"},
        )
        return start, time.monotonic(), status

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(guess, range(attempts)))


def attack_summary(answers: list[tuple[float, float, int | str]]) -> dict:
    return {
        "statuses": {str(k): v for k, v in Counter(status for _, _, status in answers).items()},
        "latency_ms": distribution(end - start for start, end, _ in answers),
    }


def phase(port: int, players: list[dict], args: argparse.Namespace, meter: CpuMeter | None) -> dict:
    attacker = multiprocessing.get_context("spawn").Pool(1) if args.attacker_process else None
    if attacker is not None:
        attacker.apply(time.monotonic)  # started before the window opens
    with Readers(port, players) as readers:
        time.sleep(1.0)  # readers warm
        if meter:
            meter.start()
        start = time.monotonic()
        if attacker is None:
            answers = attack(port, args.attempts, args.concurrency)
        else:
            answers = attacker.apply(attack, (port, args.attempts, args.concurrency))
        took = time.monotonic() - start
        cpu = meter.stop() if meter else None
        end = max(time.monotonic(), start + MIN_WINDOW)
        time.sleep(max(0.0, end - time.monotonic()))
    if attacker is not None:
        attacker.close()
        attacker.join()
    result = {
        "attack_seconds": round(took, 2),
        "attack": attack_summary(answers),
        "others": readers.between(start, end),
    }
    if meter:
        result["diagnosis"] = {
            "others_ms": others_by_moment(readers.samples, answers, start, end),
            "cpu_seconds_during_attack": {name: round(seconds, 2) for name, seconds in cpu.items()},
        }
    return result


def others_by_moment(samples: list, answers: list, start: float, end: float) -> dict:
    """The other players' latency split by what the attack was doing when their request was in
    flight: a password being checked (an attempt answered other than 429 in flight), only refusals
    being answered, or nothing any more (after the attack's last answer)."""
    checks = [(began, ended) for began, ended, status in answers if status != 429]
    last_answer = max(ended for _, ended, _ in answers)
    moments: dict[str, list[float]] = defaultdict(list)
    for at, took, _ in samples:
        if not start <= at < end:
            continue
        if any(began < at + took and at < ended for began, ended in checks):
            moments["during_a_password_check"].append(took)
        elif at < last_answer:
            moments["during_refusals_only"].append(took)
        else:
            moments["after_the_attack"].append(took)
    return {
        "password_checks_seconds": round(sum(ended - began for began, ended in checks), 2),
        **{name: distribution(values) for name, values in moments.items()},
        "timeline": timeline(samples, answers, start),
    }


def timeline(samples: list, answers: list, start: float, step: float = 0.1) -> list[str]:
    """From the attack's first attempt to its last answer (and one step beyond), one line per
    STEP: the other players' requests started then (count, slowest), the attempts answered then,
    and whether a password was being checked."""
    checks = [(began, ended) for began, ended, status in answers if status != 429]
    last_answer = max(ended for _, ended, _ in answers)
    lines = []
    at = start
    while at < last_answer + step:
        reads = [took for began, took, _ in samples if at <= began < at + step]
        answered = Counter(status for _, ended, status in answers if at <= ended < at + step)
        checking = any(began < at + step and at < ended for began, ended in checks)
        lines.append(
            f"{(at - start) * 1000:5.0f} ms: {len(reads)} reads, slowest "
            f"{max(reads, default=0) * 1000:.0f} ms; answered {dict(answered)}"
            + ("; checking a password" if checking else "")
        )
        at += step
    return lines


# gunicorn's access log, with --diagnose: status, microseconds in the worker, method and path
ACCESS_FORMAT = "%(s)s %(D)s %(m)s %(U)s"
MARK = "/bench-mark-attack-starts"  # a request (404) whose log line splits baseline from attack


def server_time_by_kind(access_log: Path) -> dict:
    """The time gunicorn's workers spent on each kind of request (from accept to the last byte
    written; the time a connection waited in the listen backlog is not in it), baseline and attack."""
    kinds: dict[str, list[float]] = defaultdict(list)
    part = "baseline"
    for line in access_log.read_text().splitlines():
        fields = line.split()
        if len(fields) != 4 or not fields[1].isdigit():
            continue
        status, micros, method, path = fields
        if path == MARK:
            part = "attack"
            continue
        kind = "reader" if path.startswith("/api/planets/") else f"{method} {path} {status}"
        kinds[f"{part}: {kind}"].append(int(micros) / 1e6)
    return {kind: distribution(values) for kind, values in sorted(kinds.items())}


def refusal_cpu_ms(stack: Stack, calls: int = 500) -> dict:
    """In this process, on a fresh WSGI application: the CPU (ms) of making it (what a web process
    does when it starts), of its first login attempt refused as "busy", and of a warm one (the mean
    of CALLS). Django's log line for each 4xx answer is left out."""
    from django.core.wsgi import get_wsgi_application

    body = b"username=victim&password=guess"
    form = "application/x-www-form-urlencoded"

    def cpu_ms(work: Callable[[], object]) -> float:
        start = time.process_time()
        work()
        return (time.process_time() - start) * 1000

    busy = stack.redis()
    busy.set("gc:login:busy:account:victim", "1", ex=60)  # another attempt is being checked
    logging.disable(logging.WARNING)
    try:
        made: list = []
        start_ms = cpu_ms(lambda: made.append(get_wsgi_application()))
        refuse = wsgi_call(made[0], "POST", "/login/", body=body, content_type=form)
        first_ms = cpu_ms(refuse)
        warm_ms = cpu_ms(lambda: [refuse() for _ in range(calls)]) / calls
    finally:
        logging.disable(logging.NOTSET)
        busy.delete("gc:login:busy:account:victim")
    if set(refuse.statuses) != {429}:
        raise RuntimeError(f"the refusals were not all 429: {Counter(refuse.statuses)}")
    return {
        "process_start": round(start_ms, 1),
        "first_refusal": round(first_ms, 1),
        "refusal": round(warm_ms, 3),
    }


def baseline(port: int, players: list[dict]) -> dict:
    with Readers(port, players) as readers:
        time.sleep(1.0)
        start = time.monotonic()
        time.sleep(MIN_WINDOW)
        end = time.monotonic()
    return readers.between(start, end)


def gunicorn(stack: Stack, port: int, workers: int, throttle: bool, access_log: Path | None = None):
    command = [
        PYTHON,
        "-m",
        "gunicorn",
        "galactic.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
    ]
    if access_log is not None:
        command += ["--access-logfile", str(access_log), "--access-logformat", ACCESS_FORMAT]
    proc = stack.spawn("gunicorn", command, LOGIN_THROTTLE=str(throttle).lower(), LOGIN_FAILURE_LIMIT="10")

    def up() -> bool:
        try:
            return call(port, "GET", "/health")[0] in (200, 503)
        except OSError:
            return False

    if not wait_until(up, 30, 0.2):
        raise RuntimeError(f"gunicorn did not start; logs in {stack.log_dir}")
    return proc


def players() -> list[dict]:
    from galactic.services import player_create

    player_create(username="victim", password="the-right-one-" + "x" * 20)  # PBKDF2, as deployed
    made = [player_create(username=f"reader{i}") for i in range(READERS)]
    return [{"token": new.token, "home": new.home.pk} for new in made]


def run_server(stack: Stack, readers: list[dict], args: argparse.Namespace, throttle: bool) -> dict:
    from axes.models import AccessAttempt

    AccessAttempt.objects.all().delete()
    stack.redis().flushdb()  # the lockouts mirrored there
    port = free_port()
    access_log = stack.log_dir / f"access-{port}.log" if args.diagnose else None
    web = gunicorn(stack, port, args.web_workers, throttle, access_log)
    for player in readers:  # each web worker's first requests (imports, connections)
        call(
            port,
            "GET",
            f"/api/planets/{player['home']}",
            headers={"Authorization": f"Token {player['token']}"},
        )
    result = {"baseline": baseline(port, readers)}
    meter = None
    if args.diagnose:
        call(port, "GET", MARK)
        meter = CpuMeter(
            {
                "gunicorn": [web.pid, *children_of(web.pid)],
                "postgres": stack.postgres_backends(),
                "redis": [stack.redis_proc.pid],
                "load_generator": [os.getpid()],
            }
        )
    result.update(phase(port, readers, args, meter))
    stack.stop(web)
    if access_log is not None:
        result["diagnosis"]["server_ms"] = server_time_by_kind(access_log)
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--attempts", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--web-workers", type=int, default=3, help="gunicorn workers (WEB_CONCURRENCY)")
    parser.add_argument("--diagnose", action="store_true", help="where the other players' time went")
    parser.add_argument(
        "--attacker-process", action="store_true", help="the attacker in a process of its own"
    )
    parser.add_argument(
        "--throttled-only", action="store_true", help="skip the server without login throttling"
    )
    args = parser.parse_args(argv)
    with Stack("bruteforce", LOG_LEVEL="ERROR") as stack:
        refusal_cpu = refusal_cpu_ms(stack) if args.diagnose else None  # before anything warms Django
        readers = players()
        note("bruteforce: throttled (LOGIN_FAILURE_LIMIT 10)")
        throttled = run_server(stack, readers, args, throttle=True)
        unthrottled = None
        if not args.throttled_only:
            note("bruteforce: no login throttling (LOGIN_THROTTLE=false)")
            unthrottled = run_server(stack, readers, args, throttle=False)
        machine = stack.machine()
    base_p95 = throttled["baseline"]["latency_ms"]["p95"]
    attacked_p95 = throttled["others"]["latency_ms"]["p95"]
    ratio = round(attacked_p95 / base_p95, 2) if base_p95 else None
    result = {
        "benchmark": "bruteforce",
        "config": {**vars(args), "readers": READERS, "read_interval_s": READ_INTERVAL},
        "throttled": throttled,
        "unthrottled": unthrottled,
        "others_p95_ratio_throttled": ratio,
        "others_p95_ratio_unthrottled": round(unthrottled["others"]["latency_ms"]["p95"] / base_p95, 2)
        if base_p95 and unthrottled
        else None,
        **({"refusal_cpu_ms": refusal_cpu} if refusal_cpu else {}),
        "target": {"others_p95_ratio_max": 2.0},
        "meets_target": ratio is not None and ratio <= 2.0,
        "machine": machine,
    }
    emit(result)
    return result


if __name__ == "__main__":
    main()
