"""CPU per request and per event, in-process: what a dispatch, a poll and an arrival cost, and where.

    .venv/bin/python -m bench.cpu [--requests 300] [--batches 8] [--profile]

Wall-clock figures depend on whatever else runs on the machine; CPU time hardly does. This
benchmark runs the work in its own process and reads the CPU it took:

- requests, through the WSGI application gunicorn serves (galactic.wsgi: every middleware, the
  URL resolver, django-ninja, the view, the response), called in a loop with a prepared environ:
  `POST /api/fleets` (a transport launch, as `bench dispatch` sends), `GET /api/fleets/<id>` and
  `GET /api/planets/<id>`; and the same loop on `bench/floor.py`, a minimal Django + ninja view
  that authenticates a token and reads one row (Django's floor for an API call);
- events, as the GameWorker runs them (close_old_connections() before and after):
  `fleets.services.fleet_arrive_many` on batches of BATCH 50 v 50 arrivals, and
  `fleets.services.fleet_arrive` on one arrival alone (batches off, the trickle case).

Per request or event: `python_ms` (this process: time.process_time), `postgres_ms` (the CPU of
this connection's PostgreSQL backend, from /proc) and `redis_ms` (redis-server's);
`python_ms_best_round`, the cheapest of ROUNDS rounds of the calls (on a busy machine other work
only adds to CPU time: the best round is the better estimate of the code's own cost). What it leaves
out: the HTTP server (gunicorn's parsing and access log, measured by `bench dispatch`) and RQ's own
work per job (dequeue, registries: measured by `bench throughput`).

With --profile, each case runs again under cProfile and its CPU is split by where the code lives
(`by_area`: own time of the functions of each area, summing to the whole) and by a few functions
that matter (`inclusive`: time inside them, overlapping).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bench.harness import Stack, cpu_seconds, emit, note, wsgi_call

BATCH = 50
ROUNDS = 10  # each case's calls are timed in this many rounds
PLAYERS = 8

# (area, substrings of the code's file path), first match wins; order matters
AREAS = (
    ("json", ("/json/",)),
    ("logging", ("/logging/",)),
    (
        "django: middleware",
        ("/django/middleware/", "/contrib/sessions/", "/contrib/messages/", "/contrib/auth/"),
    ),
    (
        "django: request, URLs, response",
        ("/django/core/", "/django/http/", "/django/urls/", "/django/utils/"),
    ),
    ("django ORM: building and compiling queries, model instances", ("/django/db/models/",)),
    ("django DB layer + psycopg", ("/django/db/", "/psycopg/")),
    ("django-ninja + pydantic", ("/ninja/", "/pydantic/", "/pydantic_core/")),
    ("redis-py + RQ", ("/redis/", "/rq/", "/django_rq/")),
    ("game: flight arithmetic", ("galactic/flight.py", "galactic/ships.py")),
    ("game: settlement and planet rows", ("galactic/models.py",)),
    ("game: battle engine", ("combat/engine.py",)),
    ("game: other", ("/galactic/", "/fleets/", "/combat/", "/bench/")),
    ("python runtime (builtins, datetime, ...)", ("~", "<")),
)
INCLUSIVE = (
    ("middleware chain (all but the view)", "base.py", "_get_response"),
    ("authentication", "api.py", "authenticate"),
    ("ninja: parse and validate the request", "operation.py", "_get_values"),
    ("ninja: validate and render the answer", "operation.py", "_result_to_response"),
    ("fleets.services.fleet_dispatch", "services.py", "fleet_dispatch"),
    ("galactic.services.planet_launch", "services.py", "planet_launch"),
    ("Planet.settle", "models.py", "settle"),
    ("queue.put_many (after commit)", "queue.py", "put_many"),
    ("SQLCompiler.as_sql (compiling queries)", "compiler.py", "as_sql"),
    ("SQLCompiler.execute_sql", "compiler.py", "execute_sql"),
    ("psycopg cursor.execute", "cursor.py", "execute"),
    ("model instances from rows", "base.py", "from_db"),
    ("fleets.services.fleet_arrive_many", "services.py", "fleet_arrive_many"),
    ("combat.services.battle_at_planet", "services.py", "battle_at_planet"),
    ("combat.engine.resolve_battle", "engine.py", "resolve_battle"),
    ("Report.objects.bulk_create", "query.py", "bulk_create"),
    ("galactic.db.bulk_save", "db.py", "bulk_save"),
    ("logging", "__init__.py", "_log"),
)


def backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def measure(stack: Stack, calls: list[Callable[[], object]], per_call: int = 1) -> dict:
    """Run each call (the first is a warm-up, not counted); CPU per event of this process, of its
    PostgreSQL backend and of redis-server."""
    from django.db import close_old_connections

    calls[0]()
    close_old_connections()
    pg = backend_pid()  # CONN_MAX_AGE keeps this backend for the whole measurement
    redis_before, pg_before = cpu_seconds(stack.redis_proc.pid), cpu_seconds(pg)
    calls, rounds = calls[1:], []
    size = max(1, len(calls) // ROUNDS)
    for start in range(0, len(calls), size):
        before = time.process_time()
        for call in calls[start : start + size]:
            call()
        rounds.append((time.process_time() - before) / (len(calls[start : start + size]) * per_call))
    python = sum(r * len(calls[i * size : (i + 1) * size]) * per_call for i, r in enumerate(rounds))
    if backend_pid() != pg:
        raise RuntimeError("the PostgreSQL connection changed during the measurement")
    events = len(calls) * per_call
    figures = {
        "python_ms": python * 1000 / events,
        "postgres_ms": (cpu_seconds(pg) - pg_before) * 1000 / events,
        "redis_ms": (cpu_seconds(stack.redis_proc.pid) - redis_before) * 1000 / events,
    }
    figures = {name: round(value, 3) for name, value in figures.items()}
    figures["total_ms"] = round(sum(figures.values()), 3)
    # other work on the machine only ever adds CPU time (caches, shared cores): the quietest
    # round is the better estimate on a busy box
    figures["python_ms_best_round"] = round(min(rounds) * 1000, 3)
    figures["events"] = events
    return figures


def profile(calls: list[Callable[[], object]], per_call: int = 1) -> dict:
    """cProfile over the calls (after one warm-up): ms per event by area and inclusive."""
    calls[0]()
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for call in calls[1:]:
        call()
    profiler.disable()
    stats = pstats.Stats(profiler, stream=io.StringIO()).stats
    events = (len(calls) - 1) * per_call
    areas: dict[str, float] = {}
    for (path, _line, _name), (_cc, _nc, own, _cum, _callers) in stats.items():
        area = next((a for a, parts in AREAS if any(p in path for p in parts)), "other libraries")
        areas[area] = areas.get(area, 0.0) + own
    inclusive = {}
    for label, file_end, name in INCLUSIVE:
        # the outermost frames only: a recursive function's cumulative time is already total
        total = sum(
            cum
            for (path, _l, fn), (_cc, _nc, _own, cum, _callers) in stats.items()
            if fn == name and path.endswith(file_end)
        )
        if total:
            inclusive[label] = round(total * 1000 / events, 3)
    whole = sum(areas.values())
    return {
        "profiled_ms": round(whole * 1000 / events, 3),
        "by_area": {
            a: round(s * 1000 / events, 3) for a, s in sorted(areas.items(), key=lambda kv: -kv[1]) if s
        },
        "inclusive": inclusive,
    }


def request_cases(count: int) -> dict[str, tuple[Callable[[], int], int]]:
    """name -> (call, expected status)."""
    from bench import floor
    from bench.universe import dispatchers
    from fleets.models import Fleet
    from galactic.wsgi import application

    players = dispatchers(PLAYERS)
    player = players[0]
    order = {
        "origin": player["home"],
        "target": player["target"],
        "mission": "transport",
        "ships": {"small_cargo": 1},
        "cargo": {"metal": 10},
    }
    post = wsgi_call(application, "POST", "/api/fleets", player["token"], json.dumps(order).encode())
    post()
    fleet = (
        Fleet.objects.filter(owner__planets=player["home"]).order_by("-pk").values_list("pk", flat=True)[0]
    )
    return {
        "post_api_fleets": (post, 201),
        "get_api_fleet": (wsgi_call(application, "GET", f"/api/fleets/{fleet}", player["token"]), 200),
        "get_api_planet": (
            wsgi_call(application, "GET", f"/api/planets/{player['home']}", player["token"]),
            200,
        ),
        "floor_post": (
            wsgi_call(floor.application, "POST", "/api/fleets", player["token"], json.dumps(order).encode()),
            201,
        ),
    }


def event_cases(batches: int, lone: int) -> dict[str, tuple[list[Callable[[], object]], int]]:
    from django.db import close_old_connections

    from bench.universe import battle_fleets
    from fleets.services import fleet_arrive, fleet_arrive_many

    past = datetime.now(UTC) - timedelta(seconds=1)

    def as_worker(work: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            close_old_connections()
            work()
            close_old_connections()

        return run

    def batch_calls() -> list[Callable[[], None]]:
        ids = battle_fleets(BATCH * (batches + 1), past)
        return [
            as_worker(lambda b=b: fleet_arrive_many(ids[b : b + BATCH])) for b in range(0, len(ids), BATCH)
        ]

    def lone_calls() -> list[Callable[[], None]]:
        return [as_worker(lambda i=i: fleet_arrive(fleet_id=i)) for i in battle_fleets(lone + 1, past)]

    return {
        f"arrival_50v50_batch_of_{BATCH}": (batch_calls, BATCH),
        "arrival_50v50_alone": (lone_calls, 1),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=300, help="requests per endpoint")
    parser.add_argument("--batches", type=int, default=8, help=f"batches of {BATCH} arrivals")
    parser.add_argument("--lone", type=int, default=100, help="arrivals run alone")
    parser.add_argument("--profile", action="store_true", help="also break the CPU down (cProfile)")
    args = parser.parse_args(argv)
    began = time.monotonic()
    results: dict[str, dict] = {}
    with Stack("cpu") as stack:
        for name, (call, expected) in request_cases(args.requests).items():
            note(f"cpu: {name}")
            results[name] = measure(stack, [call] * (args.requests + 1))
            if args.profile:
                results[name]["profile"] = profile([call] * (args.requests // 2 + 1))
            if set(call.statuses) != {expected}:
                raise RuntimeError(f"{name}: statuses {sorted(set(call.statuses))}, expected {expected}")
        for name, (make, per_call) in event_cases(args.batches, args.lone).items():
            note(f"cpu: {name}")
            results[name] = measure(stack, make(), per_call)
            if args.profile:
                results[name]["profile"] = profile(make(), per_call)
        machine = stack.machine()
    result = {
        "benchmark": "cpu",
        "config": {"requests": args.requests, "batch": BATCH, "batches": args.batches, "lone": args.lone},
        **results,
        "baseline": "floor_post: a minimal Django + ninja view (bench/floor.py), same process",
        "target": {"post_api_fleets_python_ms": 3.0, "get_python_ms": 1.5, "arrival_batched_total_ms": 0.9},
        "meets_target": None,  # in-process parts only; bench/run.py's dispatch and throughput decide
        "machine": machine,
        "seconds": round(time.monotonic() - began, 1),
    }
    emit(result)
    return result


if __name__ == "__main__":
    main()
