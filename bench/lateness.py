"""Firing precision: how late (or early) scheduled events start, GameWorker against stock RQ.

    .venv/bin/python -m bench.lateness [--rate 200] [--seconds 15] [--workers 2]

RATE events a second fall due, evenly spread (one every 1/RATE s), for SECONDS seconds, on WORKERS
worker processes. Each event is `bench.noop.record(due)`, whose first act is to read the clock;
lateness = that reading - the due time. Negative lateness means the event started early.

- game: `python manage.py rqworker game_events --with-scheduler` x WORKERS (GameWorker and its
  promoter threads); events written with `galactic.events.queue.put(at=due)`.
- baseline: stock `rq worker stock_events --with-scheduler --worker-class rq.worker.SimpleWorker`
  x WORKERS (RQ's own scheduler); events written with `Queue.enqueue_at(due)`. SimpleWorker, so
  the only difference from the game run is the scheduler.

All events are written before the first falls due (the write time is reported), so the writer
does not compete with the workers for the CPU. Target: no event early, p50 <= 10 ms, p99 <= 50 ms.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from bench.harness import CpuMeter, Stack, distribution, emit, note, wait_until
from bench.noop import LATENESS_KEY

STOCK_QUEUE = "stock_events"


def lead(events: int) -> float:
    """Seconds between the start of the writes and the first due time: room to write them all."""
    return 2.0 + events * 0.0015


def due_times(rate: int, seconds: float, lead: float) -> list[datetime]:
    """Evenly spread due times, rounded to the microsecond (so `at` and the recorded due agree)."""
    t0 = time.time() + lead
    return [datetime.fromtimestamp(t0 + i / rate, UTC) for i in range(int(rate * seconds))]


def collect(redis, expected: list[str], last_due: float, grace: float) -> tuple[list, list[str], list[dict]]:
    """(due, lateness) of every event's first start; the ids that never started, that ran twice."""
    time.sleep(max(0.0, last_due - time.time()))
    wait_until(lambda: redis.llen(LATENESS_KEY) >= len(expected), grace, 0.2)
    time.sleep(0.5)  # a duplicate may have filled the count before the last event ran
    values, first, duplicates = [], {}, []
    for item in redis.lrange(LATENESS_KEY, 0, -1):
        due, started, job_id = item.decode().split()
        late = float(started) - float(due)
        if job_id in first:  # started twice: count it (both starts shown), measure the first only
            duplicates.append(
                {"id": job_id, "lateness_ms": [round(first[job_id] * 1000, 3), round(late * 1000, 3)]}
            )
            continue
        first[job_id] = late
        values.append((float(due), late))
    redis.delete(LATENESS_KEY)
    missing = sorted(set(expected) - set(first))
    return values, missing, duplicates


def summarise(collected: tuple[list, list[str], list[dict]], write_s: float, events: int) -> dict:
    timed, missing, duplicates = collected
    lateness = [late for _, late in timed]
    first = min((due for due, _ in timed), default=0.0)
    by_second: dict[int, list[float]] = {}
    for due, late in timed:
        by_second.setdefault(int(due - first), []).append(late)
    return {
        "lateness_ms": distribution(lateness),
        # p99 of the events falling due in each second of the run: a backlog shows as a rising line
        "p99_ms_by_second": [distribution(by_second[s])["p99"] for s in sorted(by_second)],
        "early": sum(1 for x in lateness if x < 0),
        "missing": len(missing),
        "ran_twice": len(duplicates),
        "missing_ids": missing[:5],
        "ran_twice_detail": duplicates[:5],
        "write_s": round(write_s, 3),
        "write_us_per_event": round(write_s / events * 1e6, 1),
    }


def measure(stack: Stack, procs: list, ids: list[str], dues: list, write_s: float) -> dict:
    """Once the events are written: wait for the first due time, collect every start, and the CPU
    the workers and redis-server spent meanwhile; then stop the workers."""
    in_time = time.time() < dues[0].timestamp()
    time.sleep(max(0.0, dues[0].timestamp() - time.time()))
    meter = CpuMeter({"workers": [p.pid for p in procs], "redis": [stack.redis_proc.pid]}).start()
    collected = collect(stack.redis(), ids, dues[-1].timestamp(), 10)
    cpu = {k: round(v * 1000 / len(dues), 2) for k, v in meter.stop().items()}
    stack.stop_all(procs)
    return {
        **summarise(collected, write_s, len(dues)),
        "writes_done_before_first_due": in_time,
        "cpu_ms_per_event": cpu,  # workers (promoters and all) and redis-server, while events fell due
    }


def run_game(stack: Stack, rate: int, seconds: float, workers: int) -> dict:
    from galactic.events import queue

    procs = [stack.game_worker() for _ in range(workers)]
    stack.wait_workers(queue.QUEUE_NAME, workers)
    redis = stack.redis()
    redis.delete(LATENESS_KEY)
    dues = due_times(rate, seconds, lead(int(rate * seconds)))
    start = time.perf_counter()
    ids = [f"late-{i}" for i in range(len(dues))]
    for job_id, at in zip(ids, dues, strict=True):
        queue.put("bench.noop.record", job_id=job_id, at=at, args=(at.timestamp(),))
    return measure(stack, procs, ids, dues, time.perf_counter() - start)


def run_stock(stack: Stack, rate: int, seconds: float, workers: int) -> dict:
    from rq import Queue

    procs = [
        stack.rq_worker(STOCK_QUEUE, worker_class="rq.worker.SimpleWorker", scheduler=True)
        for _ in range(workers)
    ]
    stack.wait_workers(STOCK_QUEUE, workers)
    redis = stack.redis()
    redis.delete(LATENESS_KEY)
    stock = Queue(STOCK_QUEUE, connection=redis)
    dues = due_times(rate, seconds, lead(int(rate * seconds)))
    start = time.perf_counter()
    ids = [f"stock-late-{i}" for i in range(len(dues))]
    for job_id, at in zip(ids, dues, strict=True):
        stock.enqueue_at(at, "bench.noop.record", at.timestamp(), job_id=job_id)
    return measure(stack, procs, ids, dues, time.perf_counter() - start)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=int, default=200, help="events falling due per second")
    parser.add_argument("--seconds", type=float, default=15, help="how long events keep falling due")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    began = time.monotonic()
    with Stack("lateness") as stack:
        note("lateness: GameWorker")
        game = run_game(stack, args.rate, args.seconds, args.workers)
        note("lateness: stock RQ scheduler")
        stock = run_stock(stack, args.rate, args.seconds, args.workers)
        machine = stack.machine()
    late = game["lateness_ms"]
    result = {
        "benchmark": "lateness",
        "config": {
            "rate_per_s": args.rate,
            "seconds": args.seconds,
            "events": int(args.rate * args.seconds),
            "workers": args.workers,
        },
        "game": {"setup": "manage.py rqworker game_events --with-scheduler (GameWorker) x N", **game},
        "baseline": {
            "setup": "rq worker --with-scheduler --worker-class rq.worker.SimpleWorker x N, Queue.enqueue_at",
            **stock,
        },
        "target": {"early": 0, "p50_ms_max": 10, "p99_ms_max": 50},
        "meets_target": (
            game["early"] == 0
            and game["missing"] == 0
            and game["ran_twice"] == 0
            and late["p50"] is not None
            and late["p50"] <= 10
            and late["p99"] <= 50
        ),
        "machine": machine,
        "seconds": round(time.monotonic() - began, 1),
    }
    emit(result)
    return result


if __name__ == "__main__":
    main()
