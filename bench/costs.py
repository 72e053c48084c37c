"""Costs per event: SQL queries and PostgreSQL round trips, Redis commands and round trips.

    .venv/bin/python -m bench.costs [--events 150]

1. SQL, in this process, around `fleets.services.fleet_arrive` (and POST /api/fleets through
   Django's test client), wrapped as GameWorker.perform_job wraps a job: close_old_connections()
   before and after. Per event:
   - `queries`: what django.test.utils.CaptureQueriesContext records;
   - `pg_round_trips`: what the connection really sent (libpq trace, bench.probes.PgTrace):
     queries + BEGIN + COMMIT + the CONN_HEALTH_CHECKS ping that follows close_old_connections;
   - `redis_commands`: what the event itself sends to Redis (MONITOR): scheduling fleet:return
     (or npc:respawn) with galactic.events.queue.put.
   Cases: an attack on a player's planet (50 v 50, loot, return scheduled), alone and in batches
   of BATCH (`fleets.services.fleet_arrive_many`, as the GameWorker runs arrivals that are due
   together; figures per event), an attack on an NPC base (tiers 1-3; a defeat also schedules
   npc:respawn), a transport, and a dispatch (POST /api/fleets). Each case runs REPEATS + 1 times
   (batches: REPEATS + 1 batches); the first, a warm-up, is not counted.
2. Redis, with a real worker process on the private Redis, watched with MONITOR: per event, the
   commands the worker sends (top level: `commands`; Redis's own count of request packets:
   `round_trips`, from INFO stats total_reads_processed), the commands run inside Lua scripts
   (`lua_inner`, the writer's put included) and what writing the event cost the writer
   (`write_commands`). The worker's idle traffic (heartbeats, promoter, liveness thread), measured
   over IDLE seconds just before, is subtracted. One worker, so nothing is shared.
   - game_unbatched: the GameWorker with GAME_EVENT_BATCH_SIZE=1 (one job at a time, as before
     batches), EVENTS real fleet arrivals (50 v 50) written with galactic.events.queue.put, falling due
     together;
   - game: `manage.py rqworker game_events --with-scheduler` as deployed (batches on), the same;
   - game_noop: the same worker, EVENTS `bench.noop.noop` jobs written with put;
   - baseline: stock `rq worker --with-scheduler --worker-class rq.worker.SimpleWorker`, EVENTS no-op
     jobs written with Queue.enqueue_at (RQ's scheduler moves them);
   - stock_enqueue: the same stock worker, EVENTS no-op jobs written with Queue.enqueue (no scheduler).
"""

from __future__ import annotations

import argparse
import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from bench.harness import Stack, emit, note, wait_until
from bench.probes import PgTrace, RedisMonitor, client_addresses, reads_processed

IDLE = 4.0
BATCH = 50  # fleet arrivals per batch in the SQL measurement of a batch
STOCK_QUEUE = "stock_events"


# --- 1. SQL per event -------------------------------------------------------------------------------


def sql_shape(sql: str) -> str:
    """A short name for a statement: verb, table, joins, lock."""
    verb = sql.split(None, 1)[0].upper()
    pattern = {"SELECT": r'FROM "(\w+)"', "INSERT": r'INTO "(\w+)"', "UPDATE": r'UPDATE "(\w+)"'}.get(verb)
    table = re.search(pattern, sql) if pattern else None
    shape = f"{verb} {table.group(1) if table else '?'}"
    joins = re.findall(r'JOIN "(\w+)"', sql)
    if joins:
        shape += " +" + "+".join(joins)
    for lock in ("FOR NO KEY UPDATE", "FOR UPDATE"):
        if lock in sql:
            shape += f" {lock}"
            break
    return shape


def measure_calls(redis, calls: list, events_per_call: int = 1) -> dict:
    """Run each call as a worker runs a job (or a batch of `events_per_call` jobs); queries, PG
    round trips, Redis commands per event."""
    from django.db import close_old_connections, connection
    from django.test.utils import CaptureQueriesContext

    queries, trips, shapes, extra = [], [], None, None
    calls[0]()  # warm-up, not counted: connections, scripts
    calls = calls[1:]
    monitor = RedisMonitor(redis, own_clients=set()).start()
    for call in calls:
        close_old_connections()
        with PgTrace(connection) as trace, CaptureQueriesContext(connection) as captured:
            close_old_connections()  # GameWorker.perform_job, before the job
            call()
            close_old_connections()  # and after it
        queries.append(len(captured.captured_queries) / events_per_call)
        trips.append(trace.round_trips / events_per_call)
        if shapes is None:
            shapes = [sql_shape(q["sql"]) for q in captured.captured_queries]
            extra = [q for q in trace.simple_queries if len(q) < 24]
    monitor.stop()
    events = len(calls) * events_per_call
    return {
        "events": events,
        "queries": _same_or_range(queries),
        "pg_round_trips": _same_or_range(trips),
        "statements": shapes,
        "short_statements_sent": extra,  # BEGIN, COMMIT, the health-check ping
        "redis_commands": round(sum(monitor.others.values()) / events, 2),
        "redis_by_command": _per(monitor.others, events),
        "redis_lua_inner": round(sum(monitor.lua.values()) / events, 2),
    }


def _same_or_range(values: list[float]) -> float | list[float]:
    values = [round(v, 2) + 0 for v in values]
    return values[0] if len(set(values)) == 1 else [min(values), max(values)]


def _per(counter: Counter, n: int) -> dict[str, float]:
    return {name: round(count / n, 2) for name, count in counter.most_common() if count}


def sql_costs(stack: Stack, repeats: int) -> dict:
    from django.test import Client

    from bench import universe
    from combat.services import npc_seed
    from fleets.services import fleet_arrive, fleet_arrive_many

    redis = stack.redis()
    past = datetime.now(UTC) - timedelta(seconds=1)
    repeats += 1  # the first of each is a warm-up
    attacks = universe.battle_fleets(repeats, past)
    batches = universe.battle_fleets(BATCH * repeats, past)
    npcs = [npc.planet_id for npc in npc_seed(count=repeats)]
    raids = universe.fleets_to(npcs, mission="attack", ships=universe.ATTACKER_SHIPS, at=past)
    from galactic.models import Planet

    homes = list(Planet.objects.filter(owner__isnull=False).values_list("pk", flat=True)[:repeats])
    transports = universe.fleets_to(
        homes, mission="transport", ships={"small_cargo": 5}, cargo={"metal": 1000, "crystal": 500}, at=past
    )
    players = universe.dispatchers(2)
    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {players[0]['token']}")
    body = {
        "origin": players[0]["home"],
        "target": players[0]["target"],
        "mission": "transport",
        "ships": {"small_cargo": 1},
        "cargo": {"metal": 100},
    }
    statuses: Counter[int] = Counter()

    def post() -> None:
        statuses[client.post("/api/fleets", body, content_type="application/json").status_code] += 1

    return {
        "fleet_arrival_attack_50v50": measure_calls(
            redis, [lambda i=i: fleet_arrive(fleet_id=i) for i in attacks]
        ),
        f"fleet_arrival_attack_50v50_batch_of_{BATCH}": measure_calls(
            redis,
            [lambda b=b: fleet_arrive_many(batches[b : b + BATCH]) for b in range(0, len(batches), BATCH)],
            events_per_call=BATCH,
        ),
        "fleet_arrival_attack_npc": measure_calls(
            redis, [lambda i=i: fleet_arrive(fleet_id=i) for i in raids]
        ),
        "fleet_arrival_transport": measure_calls(
            redis, [lambda i=i: fleet_arrive(fleet_id=i) for i in transports]
        ),
        "dispatch_post_api_fleets": {
            **measure_calls(redis, [post] * repeats),
            "http_statuses": dict(statuses),
        },
    }


# --- 2. Redis per event, real worker ------------------------------------------------------------------


class WorkerCosts:
    """MONITOR-based counts of a worker's Redis traffic, idle traffic subtracted."""

    def __init__(self, stack: Stack, redis) -> None:
        self.stack = stack
        self.redis = redis
        self.own = client_addresses(redis)  # this process's connections, made before any worker's
        self.idle_rate: Counter[str] = Counter()
        self.idle_lua_rate: Counter[str] = Counter()
        self.idle_reads_rate = 0.0

    def session(self, action) -> tuple[RedisMonitor, int, float]:
        """Run action() under MONITOR; (monitor, request packets read from other clients, seconds)."""
        monitor = RedisMonitor(self.redis, self.own).start()
        reads = reads_processed(self.redis)
        began = time.monotonic()
        action()
        seconds = time.monotonic() - began
        reads = reads_processed(self.redis) - reads
        monitor.stop()
        # our own commands in the window: all but the first INFO, which was read before its count
        own = sum(monitor.own.values()) - 1
        return monitor, max(0, reads - own), seconds

    def idle(self, seconds: float) -> dict:
        monitor, reads, took = self.session(lambda: time.sleep(seconds))
        self.idle_rate = Counter({k: v / took for k, v in monitor.others.items()})
        self.idle_lua_rate = Counter({k: v / took for k, v in monitor.lua.items()})
        self.idle_reads_rate = reads / took
        return {
            "seconds": round(took, 2),
            "commands_per_s": round(sum(self.idle_rate.values()), 1),
            "round_trips_per_s": round(self.idle_reads_rate, 1),
            "lua_inner_per_s": round(sum(self.idle_lua_rate.values()), 1),
            "by_command_per_s": {k: round(v, 2) for k, v in self.idle_rate.most_common()},
        }

    def events(self, write, done, n: int) -> dict:
        """write() the n events (due a moment later), then wait until done().

        `commands` and `round_trips` are the worker side per event, `lua_inner` the commands run in
        scripts (the writer's too), each with the idle traffic of the same length of time taken
        off; `by_command` and `lua_by_command` are raw (idle traffic included). `write_*`: what
        writing one event cost the writer."""
        writes, write_reads, write_s = self.session(write)
        work, reads, took = self.session(lambda: wait_until(done, 60, 0.1) and time.sleep(0.3))
        # a worker may start on jobs written straight to the queue while the writes go on
        others, lua, reads, seconds = (
            writes.others + work.others,
            writes.lua + work.lua,
            reads + write_reads,
            took + write_s,
        )
        idle = sum(self.idle_rate.values()) * seconds
        idle_lua = sum(self.idle_lua_rate.values()) * seconds
        per = lambda x: round(x / n, 2) + 0.0  # noqa: E731  (+ 0.0: no "-0.0")
        return {
            "events": n,
            "commands": per(sum(others.values()) - idle),
            "round_trips": per(reads - self.idle_reads_rate * seconds),
            "lua_inner": per(sum(lua.values()) - idle_lua),  # the writer's scripts included
            "by_command": _per(others, n),
            "lua_by_command": _per(lua, n),
            "idle_share_taken_off": per(idle),
            "write_commands": per(sum(writes.own.values()) - 1),  # less the window's INFO
            "write_by_command": _per(writes.own - Counter({"INFO": 2}), n),
            "write_s": round(write_s, 2),
            "process_s": round(took, 2),
        }


def redis_costs(stack: Stack, n: int) -> dict:
    from django.db import close_old_connections
    from rq import Queue

    from bench import universe
    from galactic.events import queue

    redis = stack.redis()
    redis.ping()
    app = queue.get_connection()
    app.ping()
    stock = Queue(STOCK_QUEUE, connection=redis)
    later = datetime.now(UTC) + timedelta(hours=1)
    unbatched_ids = universe.battle_fleets(n, later)
    fleet_ids = universe.battle_fleets(n, later)
    close_old_connections()
    costs = WorkerCosts(stack, redis)
    finished = lambda q, k: lambda: redis.zcard(f"rq:finished:{q}") >= k  # noqa: E731
    result = {}

    def write_fleets(ids: list[int]):
        def write() -> None:
            from fleets.models import Fleet

            at = datetime.now(UTC) + timedelta(seconds=1.0 + n * 0.002)
            Fleet.objects.filter(pk__in=ids).update(arrive_at=at)
            universe.schedule_arrivals(ids, at)

        return write

    note("costs: GameWorker, batches off (GAME_EVENT_BATCH_SIZE=1)")
    worker = stack.game_worker(GAME_EVENT_BATCH_SIZE="1")
    stack.wait_workers(queue.QUEUE_NAME, 1)
    time.sleep(1)
    idle_unbatched = costs.idle(IDLE)
    result["game_unbatched"] = {
        "setup": "the GameWorker with GAME_EVENT_BATCH_SIZE=1: one job at a time (before batches)",
        **costs.events(write_fleets(unbatched_ids), finished(queue.QUEUE_NAME, n), n),
        "idle": idle_unbatched,
    }
    stack.stop(worker)
    redis.flushdb()

    note("costs: GameWorker")
    worker = stack.game_worker()
    stack.wait_workers(queue.QUEUE_NAME, 1)
    time.sleep(1)
    idle_game = costs.idle(IDLE)
    result["game"] = {
        "setup": "manage.py rqworker game_events --with-scheduler, fleet:arrival 50 v 50, queue.put",
        **costs.events(write_fleets(fleet_ids), finished(queue.QUEUE_NAME, n), n),
    }

    def write_noops() -> None:
        at = datetime.now(UTC) + timedelta(seconds=1.0 + n * 0.002)
        for i in range(n):
            queue.put("bench.noop.noop", job_id=f"noop-{i}", at=at)

    result["game_noop"] = {
        "setup": "the same GameWorker, bench.noop.noop, galactic.events.queue.put",
        **costs.events(write_noops, finished(queue.QUEUE_NAME, 2 * n), n),
    }
    result["game"]["idle"] = idle_game
    stack.stop(worker)

    note("costs: stock SimpleWorker with RQ's scheduler")
    worker = stack.rq_worker(STOCK_QUEUE, worker_class="rq.worker.SimpleWorker", scheduler=True)
    stack.wait_workers(STOCK_QUEUE, 1)
    time.sleep(1.5)
    idle_stock = costs.idle(IDLE)

    def write_stock_scheduled() -> None:
        at = datetime.now(UTC) + timedelta(seconds=1.0 + n * 0.002)
        for i in range(n):
            stock.enqueue_at(at, "bench.noop.noop", job_id=f"stock-at-{i}")

    result["baseline"] = {
        "setup": "rq worker --with-scheduler --worker-class rq.worker.SimpleWorker, no-op, Queue.enqueue_at",
        **costs.events(write_stock_scheduled, finished(STOCK_QUEUE, n), n),
        "idle": idle_stock,
    }

    def write_stock_now() -> None:
        for i in range(n):
            stock.enqueue("bench.noop.noop", job_id=f"stock-now-{i}")

    result["stock_enqueue"] = {
        "setup": "the same stock worker, no-op, Queue.enqueue (straight to the queue)",
        **costs.events(write_stock_now, finished(STOCK_QUEUE, 2 * n), n),
    }
    stack.stop(worker)
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=150, help="events per Redis measurement")
    parser.add_argument("--repeats", type=int, default=5, help="events per SQL measurement")
    args = parser.parse_args(argv)
    began = time.monotonic()
    with Stack("costs") as stack:
        note("costs: SQL per event")
        sql = sql_costs(stack, args.repeats)
        stack.redis().flushdb()
        redis = redis_costs(stack, args.events)
        machine = stack.machine()
    result = {
        "benchmark": "costs",
        "config": {"events": args.events, "repeats": args.repeats, "idle_s": IDLE},
        "sql_per_event": sql,
        "redis_per_event": redis,
        "baseline": "redis_per_event.baseline and redis_per_event.stock_enqueue (stock RQ, same run)",
        "target": "report the counts per event (no threshold)",
        "meets_target": None,
        "machine": machine,
        "seconds": round(time.monotonic() - began, 1),
    }
    emit(result)
    return result


if __name__ == "__main__":
    main()
