"""Dispatch: POST /api/fleets on gunicorn under load, against a bare WSGI app and Django's floor.

    .venv/bin/python -m bench.dispatch [--web-workers 3] [--seconds 4] [--rate 200]

gunicorn runs as deployed (deploy/systemd/galactic-web.service, docker-compose: sync workers,
WEB_CONCURRENCY=3 by default, access log on) on the private database and Redis, DEBUG off. 64
players, each with a stocked home planet; every request launches a real fleet (a transport of
one small cargo to the next player's home): token lookup, row lock on the origin, fleet insert,
commit, fleet:arrival written to Redis after the commit. No worker runs: the arrivals are hours
away at GAME_SPEED 1.

The load generator is asyncio in this process, one new connection per request (gunicorn's sync
workers close every connection anyway):
- closed loop at 1, 16 and 64 concurrent clients (client k sends as players k, k + clients, ...
  in turn, so that no player reaches the per-player write limit: every answer is a launch), SECONDS each
  after a 0.5 s warm-up: requests/s and latency;
- open loop at RATE requests/s for 2 x SECONDS (requests sent on schedule whether or not earlier
  ones are done; latency counted from the scheduled send time, so queueing shows): p50, p99.
Baselines, under the same load and the same gunicorn command: bench/hello_wsgi.py (no Django, no
database: what the HTTP server and the load generator cost), and bench/floor.py (Django's floor: a
minimal Django + django-ninja view that authenticates the token and reads one row, no middleware),
so the distance of the game's dispatch from what any Django view costs here is visible.
Targets: <= 4.5 ms CPU per request in all (gunicorn <= 3 ms); p99 <= 20 ms at 200 requests/s; >= 400
requests/s with 16 clients.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import time
from collections import Counter

from bench.harness import (
    PYTHON,
    CpuMeter,
    Stack,
    children_of,
    cpu_seconds,
    distribution,
    emit,
    free_port,
    note,
    wait_until,
)

CONCURRENCY = (1, 16, 64)
PLAYERS = 64
TIMEOUT = 10.0
_LENGTH = re.compile(rb"content-length:\s*(\d+)", re.IGNORECASE)


def build_requests(players: list[dict], port: int) -> list[bytes]:
    """One ready-to-send POST /api/fleets per player."""
    made = []
    for player in players:
        body = json.dumps(
            {
                "origin": player["home"],
                "target": player["target"],
                "mission": "transport",
                "ships": {"small_cargo": 1},
                "cargo": {"metal": 10},
            }
        ).encode()
        head = (
            f"POST /api/fleets HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
            f"Authorization: Token {player['token']}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        made.append(head + body)
    return made


async def send(port: int, request: bytes) -> int:
    """Send one request on a new connection; the HTTP status (0 on a transport error)."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return 0
    try:
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        length = _LENGTH.search(head)
        if length:
            await reader.readexactly(int(length.group(1)))
        return int(head.split(b" ", 2)[1])
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
        return 0
    finally:
        writer.close()


SENT = Counter()


async def timed_send(port: int, request: bytes) -> int:
    SENT[port] += 1
    try:
        return await asyncio.wait_for(send(port, request), TIMEOUT)
    except TimeoutError:
        return -1


async def closed_loop(port: int, requests: list[bytes], clients: int, seconds: float) -> dict:
    loop = asyncio.get_running_loop()
    measure_from = loop.time() + 0.5
    end = measure_from + seconds
    latencies: list[float] = []
    statuses: Counter[int] = Counter()

    async def client(k: int) -> None:
        # Client k sends as players k, k + clients, k + 2 * clients, ... in turn: every player
        # stays under the per-player write limit (API_WRITE_LIMIT), which each request still checks.
        turn = k
        while loop.time() < end:
            began = loop.time()
            status = await timed_send(port, requests[turn % len(requests)])
            turn += clients
            if began >= measure_from:
                latencies.append(loop.time() - began)
                statuses[status] += 1

    await asyncio.gather(*(client(k) for k in range(clients)))
    return {
        "clients": clients,
        "requests_per_s": round(len(latencies) / seconds, 1),
        "latency_ms": distribution(latencies),
        "statuses": {str(k): v for k, v in statuses.items()},
    }


async def open_loop(port: int, requests: list[bytes], rate: float, seconds: float) -> dict:
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.2
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    behind: list[float] = []

    async def one(i: int, due: float) -> None:
        status = await timed_send(port, requests[i % len(requests)])
        latencies.append(loop.time() - due)
        statuses[status] += 1

    tasks = []
    for i in range(int(rate * seconds)):
        due = start + i / rate
        wait = due - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        behind.append(loop.time() - due)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    took = loop.time() - start
    return {
        "rate_per_s": rate,
        "requests": len(latencies),
        "achieved_per_s": round(len(latencies) / took, 1),
        "latency_ms": distribution(latencies),
        "send_lag_ms_p99": distribution(behind)["p99"],  # the generator's own lateness in sending
        "statuses": {str(k): v for k, v in statuses.items()},
    }


def load(stack: Stack, web, port: int, requests: list[bytes], seconds: float, rate: float) -> dict:
    """Every closed-loop level, then the open loop; with the CPU the server side used per request
    (gunicorn's processes, redis-server, the web workers' PostgreSQL backends)."""

    async def all_runs() -> dict:
        closed = [await closed_loop(port, requests, c, seconds) for c in CONCURRENCY]
        return {"closed_loop": closed, "open_loop": await open_loop(port, requests, rate, 2 * seconds)}

    meter = CpuMeter({"web": [web.pid, *children_of(web.pid)], "redis": [stack.redis_proc.pid]}).start()
    backends = {pid: cpu_seconds(pid) for pid in stack.postgres_backends()}
    sent = SENT[port]
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    result = asyncio.run(all_runs())
    after = resource.getrusage(resource.RUSAGE_SELF)
    used = meter.stop()
    used["postgres"] = sum(cpu_seconds(pid) - backends.get(pid, 0.0) for pid in stack.postgres_backends())
    sent = SENT[port] - sent
    per = {name: round(seconds * 1000 / sent, 2) for name, seconds in used.items()}
    per["total"] = round(sum(per.values()), 2)
    result["requests_sent"] = sent
    result["cpu_ms_per_request"] = per
    result["load_generator_cpu_s"] = round(after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime, 2)
    return result


def gunicorn(stack: Stack, app: str, port: int, workers: int):
    proc = stack.spawn(
        "gunicorn",
        [
            PYTHON,
            "-m",
            "gunicorn",
            app,
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--access-logfile",
            "-",
            "--no-control-socket",
        ],
    )
    probe = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    if not wait_until(lambda: asyncio.run(send(port, probe)) > 0, 30, 0.2):
        raise RuntimeError(f"gunicorn ({app}) did not start; logs in {stack.log_dir}")
    return proc


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--web-workers", type=int, default=3, help="gunicorn workers (WEB_CONCURRENCY)")
    parser.add_argument("--seconds", type=float, default=4, help="per closed-loop level; open loop runs 2x")
    parser.add_argument("--rate", type=float, default=200, help="open-loop requests per second")
    args = parser.parse_args(argv)
    began = time.monotonic()
    with Stack("dispatch") as stack:
        from bench.universe import dispatchers

        players = dispatchers(PLAYERS)
        port = free_port()
        requests = build_requests(players, port)
        note("dispatch: gunicorn galactic.wsgi")
        web = gunicorn(stack, "galactic.wsgi", port, args.web_workers)
        for request in requests:  # each web worker's first requests (imports, connections)
            asyncio.run(send(port, request))
        game = load(stack, web, port, requests, args.seconds, args.rate)
        stack.stop(web)
        from fleets.models import Fleet

        fleets = Fleet.objects.count()
        scheduled = stack.redis().zcard("rq:scheduled:game_events")
        note("dispatch: gunicorn bench.hello_wsgi (baseline)")
        port = free_port()
        hello = gunicorn(stack, "bench.hello_wsgi", port, args.web_workers)
        baseline = load(stack, hello, port, build_requests(players, port), args.seconds, args.rate)
        stack.stop(hello)
        note("dispatch: gunicorn bench.floor (Django's floor)")
        port = free_port()
        floor = gunicorn(stack, "bench.floor", port, args.web_workers)
        floor_requests = build_requests(players, port)
        for request in floor_requests:
            asyncio.run(send(port, request))
        django_floor = load(stack, floor, port, floor_requests, args.seconds, args.rate)
        stack.stop(floor)
        machine = stack.machine()
    open_p99 = game["open_loop"]["latency_ms"]["p99"]
    cpu = game["cpu_ms_per_request"]
    sixteen = next(level for level in game["closed_loop"] if level["clients"] == 16)
    result = {
        "benchmark": "dispatch",
        "config": {
            "web_workers": args.web_workers,
            "worker_class": "sync",
            "players": PLAYERS,
            "seconds": args.seconds,
            "open_loop_rate": args.rate,
        },
        "game": {
            "setup": "gunicorn galactic.wsgi, POST /api/fleets (transport, 1 small cargo)",
            **game,
            "fleets_created": fleets,
            "arrivals_scheduled": scheduled,
        },
        "baseline": {"setup": "the same gunicorn serving bench/hello_wsgi.py (no Django)", **baseline},
        "django_floor": {
            "setup": "the same gunicorn serving bench/floor.py: Django + ninja, token check, one row read",
            **django_floor,
        },
        "target": {
            "open_loop_rate": 200,
            "p99_ms_max": 20,
            "cpu_ms_per_request_max": 4.5,
            "web_cpu_ms_per_request_max": 3.0,
            "closed_loop_16_clients_min_per_s": 400,
        },
        "meets_target": open_p99 is not None
        and open_p99 <= 20
        and cpu["total"] <= 4.5
        and cpu["web"] <= 3.0
        and sixteen["requests_per_s"] >= 400
        and set(game["open_loop"]["statuses"]) == {"201"},
        "machine": machine,
        "seconds": round(time.monotonic() - began, 1),
    }
    emit(result)
    return result


if __name__ == "__main__":
    main()
