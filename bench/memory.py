"""Memory: Redis bytes per scheduled event, and what stays once events have run.

    .venv/bin/python -m bench.memory [--events 100000] [--run-events 2000]

1. Scheduled: EVENTS fleet:arrival jobs (`fleets.jobs.fleet_arrival`, id `fleet-arrival-<n>`) are
   written with `galactic.events.queue.put`, due over the next 24 h, as by EVENTS fleets in flight.
   Bytes per event = delta of INFO memory `used_memory` / EVENTS, measured with no client but the
   benchmark's connected (the writers are separate processes, gone by then). Baseline: the same
   jobs written with stock RQ `Queue.enqueue_at` on the same Redis (after a FLUSHDB); BASELINE_EVENTS
   of them (20,000 by default: the bytes per event do not depend on the count, and the writes
   are what takes the time).
2. After completion: RUN_EVENTS arrival jobs, already due, for fleets that do not exist (each
   job runs fleet_arrive, finds no fleet and finishes: the whole worker path, no new event), are
   run by 2 `manage.py rqworker game_events --with-scheduler` processes started with
   GAME_EVENT_RESULT_TTL=RESULT_TTL. used_memory is read against the level before the writes:
   (a) once all have finished and the workers have stopped (finished jobs still kept: result_ttl),
   (b) after result_ttl has passed (every key visited with SCAN, so expired ones are reclaimed
   now rather than by Redis's sampling), (c) after FinishedJobRegistry.cleanup(), which RQ's
   worker maintenance runs every 10 minutes. Keys left are listed by prefix.

The private redis-server runs with `latency-tracking no`: otherwise each command name's first use
allocates a ~24 KB latency histogram, one-off bytes that would read as growth per event.

Running all 100,000 events through 2 workers would take longer than the 2 minutes a benchmark
may use, so the after-completion figures come from RUN_EVENTS events (bytes per event left).
Target: <= 512 bytes per scheduled event (below stock RQ's enqueue_at); ~0 left per event once
result_ttl has passed.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context

from bench.harness import Stack, emit, note, wait_until

DAY = 24 * 3600
WRITERS = 4
RESULT_TTL = 5
STOCK_QUEUE = "stock_events"


def _write_game(first: int, last: int, t0: float, spread: float) -> None:
    from galactic.events import queue

    for n in range(first, last):
        at = datetime.fromtimestamp(t0 + spread * (n % 9973) / 9973 + n * 1e-4, UTC)
        queue.put("fleets.jobs.fleet_arrival", job_id=f"fleet-arrival-{n}", at=at, args=(n,))


def _write_stock(first: int, last: int, t0: float, spread: float) -> None:
    from rq import Queue

    from galactic.events import queue

    stock = Queue(STOCK_QUEUE, connection=queue.get_connection())
    for n in range(first, last):
        at = datetime.fromtimestamp(t0 + spread * (n % 9973) / 9973 + n * 1e-4, UTC)
        stock.enqueue_at(at, "fleets.jobs.fleet_arrival", n, job_id=f"fleet-arrival-{n}")


def write_parallel(writer, count: int, t0: float, spread: float) -> float:
    """Write `count` jobs from WRITERS processes (the per-job cost is Python on the client side);
    returns the seconds it took. The processes exit before this returns."""
    start = time.perf_counter()
    bounds = [(1 + count * i // WRITERS, 1 + count * (i + 1) // WRITERS) for i in range(WRITERS)]
    with ProcessPoolExecutor(WRITERS, mp_context=get_context("fork")) as pool:
        for future in [pool.submit(writer, a, b, t0, spread) for a, b in bounds]:
            future.result()
    return time.perf_counter() - start


def used_memory(redis) -> int:
    return int(redis.info("memory")["used_memory"])


def keys_by_prefix(redis) -> dict[str, int]:
    """Every key, grouped by its prefix up to the last ':' (visiting them reclaims expired ones)."""
    counts: Counter[str] = Counter()
    for key in redis.scan_iter(count=1000):
        key = key.decode()
        counts[key.rsplit(":", 1)[0] + ":*" if ":" in key else key] += 1
    return dict(counts.most_common(12))


def biggest_keys(redis, count: int = 8) -> dict[str, int]:
    """The largest keys (MEMORY USAGE, bytes), with how many keys there are in all."""
    sizes = {key.decode(): redis.memory_usage(key, samples=0) or 0 for key in redis.scan_iter(count=1000)}
    top = sorted(sizes.items(), key=lambda item: -item[1])[:count]
    return {"keys": len(sizes), **dict(top)}


def scheduled_figures(stack: Stack, writer, events: int, registry: str) -> dict:
    from galactic.events import queue

    redis = stack.redis()
    queue.get_connection().connection_pool.disconnect()  # writers fork: no shared sockets
    before = used_memory(redis)
    keys_before = redis.dbsize()
    seconds = write_parallel(writer, events, time.time() + 600, DAY)
    wait_until(lambda: redis.info("clients")["connected_clients"] <= 1, 10)
    after = used_memory(redis)
    sample = [f"rq:job:fleet-arrival-{n}" for n in range(1, events + 1, max(1, events // 200))]
    hash_bytes = sum(redis.memory_usage(k, samples=0) or 0 for k in sample) / len(sample)
    registry_bytes = redis.memory_usage(registry, samples=0) or 0
    figures = {
        "events": redis.zcard(registry),
        "keys_added": redis.dbsize() - keys_before,
        "used_memory_delta": after - before,
        "bytes_per_event": round((after - before) / events, 1),
        "job_hash_bytes": round(hash_bytes, 1),
        "registry_bytes_per_event": round(registry_bytes / events, 1),
        "write_s": round(seconds, 2),
        "writers": WRITERS,
    }
    redis.flushdb()
    return figures


def after_completion(stack: Stack, run_events: int, workers: int) -> dict:
    """Run events through GameWorkers with a short result_ttl; what they leave behind, per event."""
    from django.test import override_settings
    from rq.registry import FinishedJobRegistry

    from galactic.events import queue

    redis = stack.redis()
    redis.flushdb()
    before = used_memory(redis)
    info_before = redis.info("memory")
    at = datetime.now(UTC) - timedelta(seconds=1)  # already due: straight to the queue
    ids = range(10**9 + 1, 10**9 + 1 + run_events)  # no such fleets
    # result_ttl is written into each job by put(), from the writer's settings
    with override_settings(GAME_EVENT_RESULT_TTL=RESULT_TTL):
        for n in ids:
            queue.put("fleets.jobs.fleet_arrival", job_id=f"fleet-arrival-{n}", at=at, args=(n,))
    queued = used_memory(redis)
    queue.get_connection().connection_pool.disconnect()
    procs = [stack.game_worker(GAME_EVENT_RESULT_TTL=str(RESULT_TTL)) for _ in range(workers)]
    finished_key = f"rq:finished:{queue.QUEUE_NAME}"
    started = time.monotonic()
    done = wait_until(lambda: redis.zcard(finished_key) >= run_events, 60, 0.2)
    took = time.monotonic() - started
    stack.stop_all(procs)
    wait_until(lambda: redis.info("clients")["connected_clients"] <= 1, 10)
    finished = redis.zcard(finished_key)
    done_memory = used_memory(redis)
    last = f"fleet-arrival-{ids[-1]}"
    kept = {  # what one finished event keeps until result_ttl passes
        "job_hash_bytes": redis.memory_usage(f"rq:job:{last}", samples=0),
        "result_stream_bytes": redis.memory_usage(f"rq:results:{last}", samples=0),
    }
    time.sleep(RESULT_TTL + 1)
    keys_left = keys_by_prefix(redis)
    expired_memory = used_memory(redis)
    FinishedJobRegistry(queue.QUEUE_NAME, connection=redis).cleanup()
    cleaned_memory = used_memory(redis)
    info_after = redis.info("memory")
    grown = {  # where the bytes left are, by INFO memory field
        k: info_after[k] - v
        for k, v in info_before.items()
        if isinstance(v, int)
        and k.startswith(("used_memory", "mem_"))
        and not k.endswith(("peak", "rss"))
        and info_after.get(k) != v
    }
    per_event = lambda m: round((m - before) / run_events, 1)  # noqa: E731
    return {
        "events": run_events,
        "finished": finished,
        "all_finished": done,
        "run_s": round(took, 2),
        "result_ttl_s": RESULT_TTL,
        "bytes_per_event_queued": per_event(queued),
        "bytes_per_event_finished_kept": per_event(done_memory),
        "one_finished_event_keeps": kept,
        "bytes_per_event_after_ttl": per_event(expired_memory),
        "bytes_per_event_after_registry_cleanup": per_event(cleaned_memory),
        "keys_left_after_ttl": keys_left,
        "keys_left_after_cleanup": biggest_keys(redis),
        "info_memory_growth": grown,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000, help="scheduled events to hold")
    parser.add_argument(
        "--baseline-events", type=int, default=20_000, help="events for the stock baseline (bytes per event)"
    )
    parser.add_argument("--run-events", type=int, default=1000, help="events run to measure what stays")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    began = time.monotonic()
    # Redis 7 keeps a latency histogram (~24 KB) per command name, made on the name's first use:
    # one-off bytes that would read as growth. Off here, so used_memory counts the data only.
    with Stack("memory", redis_args=("--latency-tracking", "no")) as stack:
        from galactic.events import queue

        note(f"memory: {args.events} events with galactic.events.queue.put")
        game = scheduled_figures(stack, _write_game, args.events, f"rq:scheduled:{queue.QUEUE_NAME}")
        note(f"memory: {args.baseline_events} events with stock Queue.enqueue_at")
        stock = scheduled_figures(stack, _write_stock, args.baseline_events, f"rq:scheduled:{STOCK_QUEUE}")
        note(f"memory: {args.run_events} events run, result_ttl {RESULT_TTL} s")
        completed = after_completion(stack, args.run_events, args.workers)
        machine = {**stack.machine(), "redis_version": stack.redis().info("server")["redis_version"]}
    result = {
        "benchmark": "memory",
        "config": {
            "events": args.events,
            "baseline_events": args.baseline_events,
            "run_events": args.run_events,
            "workers": args.workers,
        },
        "game": {"setup": "galactic.events.queue.put, fleet:arrival", **game},
        "baseline": {"setup": "stock rq Queue.enqueue_at, same function, args and ids", **stock},
        "after_completion": completed,
        "target": {"bytes_per_event_max": 512, "bytes_per_event_after_ttl": "about 0"},
        "meets_target": game["bytes_per_event"] <= 512
        and game["bytes_per_event"] < stock["bytes_per_event"]
        and completed["all_finished"]
        and completed["bytes_per_event_after_registry_cleanup"] < 16,
        "machine": machine,
        "seconds": round(time.monotonic() - began, 1),
    }
    emit(result)
    return result


if __name__ == "__main__":
    main()
