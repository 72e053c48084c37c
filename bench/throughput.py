"""Throughput: events processed per second by 2 worker processes, the game against stock RQ.

    .venv/bin/python -m bench.throughput [--workers 2] [--window 10] [--fleets 3000]

Phases, one after the other on the same Redis (each on its own queue, workers stopped in between):

- game (the figure): `python manage.py rqworker game_events --with-scheduler` x WORKERS running real
  fleet:arrival events (50 v 50 units: battle, loot, report, fleet:return scheduled), all falling
  due at the same moment, written with galactic.events.queue.put like schedule_arrival does.
  They fall due together, so the workers run them in batches (GAME_EVENT_BATCH_SIZE, 100).
- game_mixed: the same number of events, half of them fleet:return (fleets already flying home),
  written interleaved with the arrivals: batches must pick their kind out of a mixed queue.
- game_unbatched: the same as game with GAME_EVENT_BATCH_SIZE=1, every job on its own (before batches).
- game_noop: the same GameWorkers running `bench.noop.noop` (what the worker itself costs per job).
- baseline: stock `rq worker --worker-class rq.worker.SimpleWorker` x WORKERS running no-op jobs
  (Queue.enqueue_many), the figure the game must reach.
- stock_fork: stock forking `rq worker` (rq.Worker, a work horse per job) x WORKERS, no-op jobs.
- stock_bullmq: BullMQ (Node.js; bench/bullmq, installed with `npm ci` on first use) x WORKERS
  processes at concurrency 1, no-op jobs, timed from each job's processedOn and finishedOn. A
  reference only, skipped where Node.js is missing.

Each phase runs until its jobs are done or WINDOW seconds have passed, then its workers are
stopped. Rate = jobs finished / (last ended_at - first started_at), both read from the job hashes
that RQ writes, so process start-up is not counted. Target: game >= baseline.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.harness import CpuMeter, Stack, cpu_seconds, distribution, emit, note, wait_until


def job_times(redis, job_ids: list[str]) -> list[tuple[float, float]]:
    """(started_at, ended_at) of every finished job among `job_ids`, from RQ's job hashes."""
    from rq.utils import utcparse

    pipe = redis.pipeline(transaction=False)
    for job_id in job_ids:
        pipe.hmget(f"rq:job:{job_id}", "started_at", "ended_at", "status")
    times = []
    for started, ended, status in pipe.execute():
        if started and ended and status == b"finished":
            times.append((utcparse(started.decode()).timestamp(), utcparse(ended.decode()).timestamp()))
    return times


def cpu_meter(stack: Stack, procs: list) -> CpuMeter:
    return CpuMeter({"workers": [p.pid for p in procs], "redis": [stack.redis_proc.pid]}).start()


def measure(
    stack: Stack, procs: list, queue: str, job_ids: list[str], window: float, meter: CpuMeter | None = None
) -> dict:
    """Wait until every job finished or the window closed; the rate over the finished ones, and
    the CPU the workers (work horses included), Redis and PostgreSQL spent meanwhile, per job."""
    redis = stack.redis()
    finished_key = f"rq:finished:{queue}"
    wanted = len(job_ids)
    meter = meter or cpu_meter(stack, procs)
    wait_until(lambda: redis.zcard(finished_key) >= wanted, window, 0.25)
    cpu = meter.stop()
    # the workers' database connections opened with their first job: all their CPU is this phase's
    cpu["postgres"] = sum(cpu_seconds(pid) for pid in stack.postgres_backends())
    times = job_times(redis, job_ids)
    if len(times) < 2:
        return {"jobs": len(times), "per_s": None}
    span = max(e for _, e in times) - min(s for s, _ in times)
    cpu_ms = {name: round(seconds * 1000 / len(times), 2) for name, seconds in cpu.items()}
    cpu_ms["total"] = round(sum(cpu_ms.values()), 2)
    return {
        "jobs": len(times),
        "of": wanted,
        "span_s": round(span, 3),
        "per_s": round(len(times) / span, 1),
        "job_ms": distribution([e - s for s, e in times]),  # started_at -> ended_at, inside the worker
        # CPU per finished job: what 2 dedicated cores would allow is about 2000 / total jobs/s
        "cpu_ms_per_job": cpu_ms,
    }


def run_game(stack: Stack, workers: int, fleets: int, window: float, mixed: bool = False, **env: str) -> dict:
    """Fleet arrivals falling due together; with `mixed`, half of them returns instead (fleets
    already on their way home), written interleaved: arrival, return, arrival, return..."""
    from django.db.models import Count, F

    from bench.universe import battle_fleets
    from fleets.models import Fleet
    from fleets.schedules import arrival_job_id, return_job_id
    from galactic.events import queue

    procs = [stack.game_worker(**env) for _ in range(workers)]
    lead = 2.0 + fleets * 0.001  # every job is written before the first is due
    at = datetime.fromtimestamp(time.time() + lead + 3.0, UTC)
    fleet_ids = battle_fleets(fleets, at)
    arriving, returning = (fleet_ids[0::2], fleet_ids[1::2]) if mixed else (fleet_ids, [])
    stack.wait_workers(queue.QUEUE_NAME, workers)
    at = datetime.fromtimestamp(max(at.timestamp(), time.time() + lead), UTC)
    Fleet.objects.filter(pk__in=arriving).update(arrive_at=at)
    Fleet.objects.filter(pk__in=returning).update(
        status=Fleet.Status.RETURNING, arrive_at=F("depart_at"), return_at=at
    )
    returning_ids = set(returning)
    events = [
        queue.PendingEvent("fleets.jobs.fleet_return", return_job_id(i), at, (i,))
        if i in returning_ids
        else queue.PendingEvent("fleets.jobs.fleet_arrival", arrival_job_id(i), at, (i,))
        for i in fleet_ids
    ]
    queue.put_many(events)
    time.sleep(max(0.0, at.timestamp() - time.time()))
    result = measure(stack, procs, queue.QUEUE_NAME, [e.job_id for e in events], window)
    stack.stop_all(procs)
    statuses = dict(Fleet.objects.filter(pk__in=fleet_ids).values_list("status").annotate(n=Count("id")))
    returns = stack.redis().zcard(f"rq:scheduled:{queue.QUEUE_NAME}")
    stack.redis().flushdb()  # jobs left when the window closed must not run in the next phase
    return {**result, "fleet_status": statuses, "returns_scheduled": returns}


def run_game_noop(stack: Stack, workers: int, jobs: int, window: float) -> dict:
    from galactic.events import queue

    procs = [stack.game_worker() for _ in range(workers)]
    stack.wait_workers(queue.QUEUE_NAME, workers)
    at = datetime.fromtimestamp(time.time() + 1.0 + jobs * 0.0005, UTC)
    ids = [f"noop-{i}" for i in range(jobs)]
    for job_id in ids:
        queue.put("bench.noop.noop", job_id=job_id, at=at)
    time.sleep(max(0.0, at.timestamp() - time.time()))
    result = measure(stack, procs, queue.QUEUE_NAME, ids, window)
    stack.stop_all(procs)
    stack.redis().flushdb()
    return result


def run_stock(stack: Stack, name: str, worker_class: str, workers: int, jobs: int, window: float) -> dict:
    from rq import Queue

    procs = [stack.rq_worker(name, worker_class=worker_class) for _ in range(workers)]
    stack.wait_workers(name, workers)
    redis = stack.redis()
    stock = Queue(name, connection=redis)
    ids = [f"{name}-{i}" for i in range(jobs)]
    meter = cpu_meter(stack, procs)  # the workers start on the first jobs while the rest are written
    for start in range(0, jobs, 500):
        stock.enqueue_many(
            [Queue.prepare_data("bench.noop.noop", job_id=i) for i in ids[start : start + 500]]
        )
    result = measure(stack, procs, name, ids, window, meter)
    stack.stop_all(procs)
    redis.flushdb()
    return result


BULLMQ = Path(__file__).resolve().parent / "bullmq"  # package.json (bullmq, pinned) and noop.mjs


def run_bullmq(stack: Stack, workers: int, jobs: int, window: float) -> dict:
    """Stock BullMQ (Node.js), `workers` processes at concurrency 1 running no-op jobs, written with
    addBulk while they work (as run_stock writes RQ's). Installs bullmq with `npm ci` the first
    time; skipped where Node.js is missing or that install fails."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        return {"skipped": "node and npm are not installed"}
    if not (BULLMQ / "node_modules" / "bullmq").exists():
        note("throughput: npm ci (bullmq)")
        install = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=BULLMQ, capture_output=True, text=True, timeout=300
        )
        if install.returncode:  # no registry, say: a reference only, so the rest still counts
            return {"skipped": f"npm ci failed: {install.stderr.strip()[-300:]}"}
    name, script, port = "stock_bullmq", str(BULLMQ / "noop.mjs"), str(stack.redis_port)
    procs = [stack.spawn("bullmq", [node, script, "work", port, name]) for _ in range(workers)]
    if not wait_until(lambda: all("ready" in p.log_path.read_text() for p in procs), 30, 0.1):
        raise RuntimeError(f"the BullMQ workers did not start; logs in {stack.log_dir}")
    redis = stack.redis()
    meter = cpu_meter(stack, procs)
    subprocess.run([node, script, "write", port, name, str(jobs)], check=True, timeout=60)
    wait_until(lambda: redis.zcard(f"bull:{name}:completed") >= jobs, window, 0.25)
    cpu = meter.stop()
    pipe = redis.pipeline(transaction=False)
    for i in range(jobs):
        pipe.hmget(f"bull:{name}:noop-{i}", "processedOn", "finishedOn")
    times = [(int(s) / 1000, int(e) / 1000) for s, e in pipe.execute() if s and e]
    stack.stop_all(procs)
    redis.flushdb()
    if len(times) < 2:
        return {"jobs": len(times), "per_s": None}
    span = max(e for _, e in times) - min(s for s, _ in times)
    return {
        "jobs": len(times),
        "of": jobs,
        "span_s": round(span, 3),
        "per_s": round(len(times) / span, 1),
        "cpu_ms_per_job": {k: round(v * 1000 / len(times), 2) for k, v in cpu.items()},
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--window", type=float, default=10, help="seconds at most per phase")
    parser.add_argument("--fleets", type=int, default=2000, help="fleet arrivals written (upper bound)")
    parser.add_argument(
        "--noop-jobs", type=int, default=6000, help="no-op jobs written per phase (upper bound)"
    )
    parser.add_argument("--fork-jobs", type=int, default=2000, help="no-op jobs for the forking worker")
    args = parser.parse_args(argv)
    began = time.monotonic()
    with Stack("throughput") as stack:
        note("throughput: GameWorker, fleet:arrival")
        game = run_game(stack, args.workers, args.fleets, args.window)
        note("throughput: GameWorker, fleet:arrival and fleet:return interleaved")
        mixed = run_game(stack, args.workers, args.fleets, args.window, mixed=True)
        note("throughput: GameWorker, fleet:arrival, batches off")
        unbatched = run_game(stack, args.workers, args.fleets, args.window, GAME_EVENT_BATCH_SIZE="1")
        note("throughput: GameWorker, no-op")
        game_noop = run_game_noop(stack, args.workers, args.noop_jobs, args.window)
        note("throughput: stock SimpleWorker, no-op")
        simple = run_stock(
            stack, "stock_simple", "rq.worker.SimpleWorker", args.workers, args.noop_jobs, args.window
        )
        note("throughput: stock forking Worker, no-op")
        fork = run_stock(stack, "stock_fork", "rq.worker.Worker", args.workers, args.fork_jobs, args.window)
        note("throughput: stock BullMQ (Node.js), no-op")
        bullmq = run_bullmq(stack, args.workers, args.noop_jobs, args.window)
        machine = stack.machine()
    result = {
        "benchmark": "throughput",
        "config": {"workers": args.workers, "window_s": args.window},
        "game": {
            "setup": "manage.py rqworker game_events --with-scheduler x N, fleet:arrival 50 v 50",
            **game,
        },
        "game_mixed": {
            "setup": "the same, half of them fleet:return, interleaved with the arrivals",
            **mixed,
        },
        "game_unbatched": {"setup": "the same, GAME_EVENT_BATCH_SIZE=1 (one job at a time)", **unbatched},
        "game_noop": {"setup": "the same GameWorkers, bench.noop.noop", **game_noop},
        "baseline": {"setup": "rq worker --worker-class rq.worker.SimpleWorker x N, no-op", **simple},
        "stock_fork": {"setup": "rq worker (forking rq.Worker) x N, no-op", **fork},
        "stock_bullmq": {"setup": "BullMQ Worker (Node.js), concurrency 1, x N processes, no-op", **bullmq},
        "target": "game.per_s >= baseline.per_s",
        "meets_target": bool(game["per_s"] and simple["per_s"] and game["per_s"] >= simple["per_s"]),
        "machine": machine,
        "seconds": round(time.monotonic() - began, 1),
    }
    emit(result)
    return result


if __name__ == "__main__":
    main()
