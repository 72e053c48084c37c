#!/usr/bin/env python
"""The benchmark suite: every benchmark in turn, one JSON object per benchmark on stdout.

    .venv/bin/python bench/run.py                     # all of them (about 6 minutes)
    .venv/bin/python bench/run.py --only lateness     # one (repeat --only, or a comma list)
    .venv/bin/python bench/run.py --list

Each benchmark runs as `python -m bench.<module>` in a process of its own, with its own private
redis-server and PostgreSQL database; its JSON line is passed through as it is. Progress goes to
stderr. A benchmark that fails or overruns its time limit prints {"benchmark", "error", ...}
instead, and the suite goes on; the exit status is 1 if any failed. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

BENCHMARKS = {  # name -> module; in the order they run
    "combat": "bench.combat_suite",
    "costs": "bench.costs",
    "lateness": "bench.lateness",
    "throughput": "bench.throughput",
    "dispatch": "bench.dispatch",
    "memory": "bench.memory",
}
TIME_LIMIT = 240  # seconds; each is meant to take under 120
# lateness runs four load shapes, each twice (game, stock), sparse for 60 s. combat also fights
# 2 x 13 x 50 battles of 100,000 a side (the grouped mode against the exact one): about 5 minutes
# on the 2-core box, twice that when it is busy.
TIME_LIMITS = {"lateness": 600, "combat": 1200}


def run_one(name: str, module: str, extra: list[str]) -> bool:
    began = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *extra], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        out, _ = proc.communicate(timeout=TIME_LIMITS.get(name, TIME_LIMIT))
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # the benchmark cleans up (its processes, database, Redis)
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        limit = TIME_LIMITS.get(name, TIME_LIMIT)
        print(json.dumps({"benchmark": name, "error": f"over the {limit} s limit"}), flush=True)
        return False
    lines = [line for line in out.splitlines() if line.startswith("{")]
    for line in lines:
        print(line, flush=True)
    if proc.returncode != 0 or not lines:
        error = {"benchmark": name, "error": "failed", "returncode": proc.returncode}
        error["seconds"] = round(time.monotonic() - began, 1)
        print(json.dumps(error), flush=True)
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", action="append", default=[], help="benchmark name(s) to run")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args()
    if args.list:
        for name, module in BENCHMARKS.items():
            print(f"{name:<11} python -m {module}")
        return 0
    chosen = [name for item in args.only for name in item.split(",") if name] or list(BENCHMARKS)
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    ok = True
    for name in chosen:
        print(f"[bench] --- {name}", file=sys.stderr, flush=True)
        ok = run_one(name, BENCHMARKS[name], []) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
