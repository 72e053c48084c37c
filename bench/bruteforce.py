"""Brute force on the login: other players' API latency with and without 200 wrong passwords.

    .venv/bin/python -m bench.bruteforce [--attempts 200] [--concurrency 8] [--web-workers 3]

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
"""

from __future__ import annotations

import argparse
import http.client
import re
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

from bench.harness import PYTHON, Stack, distribution, emit, free_port, note, wait_until

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


def attack(port: int, attempts: int, concurrency: int) -> dict:
    """ATTEMPTS wrong passwords for `victim`, CONCURRENCY at a time, with one visitor session."""
    _, headers, page = call(port, "GET", "/login/")
    cookie = headers["Set-Cookie"].split(";")[0]
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()

    def guess(n: int) -> tuple[int | str, float]:
        body = urlencode({"csrfmiddlewaretoken": token, "username": "victim", "password": f"guess-{n}"})
        start = time.monotonic()
        status, _, _ = call(
            port,
            "POST",
            "/login/",
            body.encode(),
            {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"},
        )
        return status, time.monotonic() - start

    with ThreadPoolExecutor(concurrency) as pool:
        answers = list(pool.map(guess, range(attempts)))
    return {
        "statuses": {str(k): v for k, v in Counter(s for s, _ in answers).items()},
        "latency_ms": distribution(took for _, took in answers),
    }


def phase(port: int, players: list[dict], attempts: int, concurrency: int) -> dict:
    with Readers(port, players) as readers:
        time.sleep(1.0)  # readers warm
        start = time.monotonic()
        attacked = attack(port, attempts, concurrency)
        took = time.monotonic() - start
        end = max(time.monotonic(), start + MIN_WINDOW)
        time.sleep(max(0.0, end - time.monotonic()))
    return {
        "attack_seconds": round(took, 2),
        "attack": attacked,
        "others": readers.between(start, end),
    }


def baseline(port: int, players: list[dict]) -> dict:
    with Readers(port, players) as readers:
        time.sleep(1.0)
        start = time.monotonic()
        time.sleep(MIN_WINDOW)
        end = time.monotonic()
    return readers.between(start, end)


def gunicorn(stack: Stack, port: int, workers: int, throttle: bool):
    proc = stack.spawn(
        "gunicorn",
        [PYTHON, "-m", "gunicorn", "galactic.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)],
        LOGIN_THROTTLE=str(throttle).lower(),
        LOGIN_FAILURE_LIMIT="10",
    )

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
    web = gunicorn(stack, port, args.web_workers, throttle)
    for player in readers:  # each web worker's first requests (imports, connections)
        call(
            port,
            "GET",
            f"/api/planets/{player['home']}",
            headers={"Authorization": f"Token {player['token']}"},
        )
    result = {"baseline": baseline(port, readers), **phase(port, readers, args.attempts, args.concurrency)}
    stack.stop(web)
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--attempts", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--web-workers", type=int, default=3, help="gunicorn workers (WEB_CONCURRENCY)")
    args = parser.parse_args(argv)
    with Stack("bruteforce", LOG_LEVEL="ERROR") as stack:
        readers = players()
        note("bruteforce: throttled (LOGIN_FAILURE_LIMIT 10)")
        throttled = run_server(stack, readers, args, throttle=True)
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
        if base_p95
        else None,
        "target": {"others_p95_ratio_max": 2.0},
        "meets_target": ratio is not None and ratio <= 2.0,
        "machine": machine,
    }
    emit(result)
    return result


if __name__ == "__main__":
    main()
