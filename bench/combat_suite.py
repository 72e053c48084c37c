"""Combat, for the suite: today's battles, battles of any size, and the grouped mode against the exact one.

    .venv/bin/python -m bench.combat_suite [--faithfulness-units 100000] [--faithfulness-seeds 50]

Three tables in one JSON object:

* ``sizes``: `bench.combat.bench(units)` for every size of bench/combat.py (10, 1,000 and 20,000
  units a side; about 4 s each, seeds 0, 1, 2...), exactly as `.venv/bin/python bench/combat.py`
  does. Baseline, measured in the same run: the same battles on the exact code path the engine does
  not pick (numpy for 10 v 10, pure Python for the others); both give identical results.
* ``large``: one battle of bench/combat.py's mix at 10**6, 10**8 and 10**12 units a side, each in a
  process of its own: wall time, peak resident memory of that process (``ru_maxrss``, the
  interpreter and numpy included) and the peak of the engine's own allocations (tracemalloc, in a
  second run). Baseline: 10**6 a side on the exact numpy path, the largest the exact mode runs.
* ``faithfulness``: every make-up of bench/combat_faithful.py fought ``--faithfulness-seeds`` times
  in both modes (bench/combat_faithful.py's rows).

Targets: 20,000 v 20,000 <= 0.5 s and 10 v 10 <= 1 ms per battle; 10**8 a side <= 10 s and <= 1 GB;
10**12 a side finishes (<= 60 s, <= 1 GB); mean survivors per compared type within 2% and outcomes
agreeing in >= 95% of battles.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc

from bench import combat as engine_bench
from bench import combat_faithful
from bench.harness import emit, note

BASELINE_BUDGET = 1.0  # seconds per size (at least BASELINE_MIN_RUNS battles)
BASELINE_MIN_RUNS = 3
LARGE = ((10**6, "numpy"), (10**6, "grouped"), (10**8, "grouped"), (10**12, "grouped"))
LARGE_LIMITS = {10**8: (10.0, 1024.0), 10**12: (60.0, 1024.0)}  # seconds, MB


def other_path(units: int) -> dict:
    from combat.engine import SMALL_BATTLE_UNITS, _resolve

    attacker, defender = engine_bench.sides(units)
    path = "numpy" if 2 * units <= SMALL_BATTLE_UNITS else "python"  # the path the engine does NOT pick
    _resolve(attacker, defender, seed=10**9, path=path)  # warm-up
    runs, start, elapsed = 0, time.perf_counter(), 0.0
    while runs < BASELINE_MIN_RUNS or elapsed < BASELINE_BUDGET:
        _resolve(attacker, defender, seed=runs, path=path)
        runs += 1
        elapsed = time.perf_counter() - start
    return {
        "units_per_side": units,
        "path": path,
        "seconds_per_battle": round(elapsed / runs, 6),
        "runs": runs,
    }


def one_battle(units: int, path: str) -> dict:
    """In the measuring child: one battle timed, then the same battle under tracemalloc."""
    from combat.engine import _resolve

    attacker, defender = engine_bench.sides(units)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    result = _resolve(attacker, defender, seed=0, path=path)
    seconds = time.perf_counter() - start
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tracemalloc.start()
    _resolve(attacker, defender, seed=0, path=path)
    traced = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return {
        "units_per_side": units,
        "path": path,
        "seconds": round(seconds, 3),
        "peak_rss_mb": round(rss_peak, 1),
        "rss_before_battle_mb": round(rss_before, 1),
        "traced_peak_mb": round(traced, 1),
        "outcome": result.outcome,
        "rounds": result.rounds,
    }


def measure(units: int, path: str) -> dict:
    """`one_battle` in a fresh process, so its peak memory is the battle's alone."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.combat_suite", "--battle", str(units), "--path", path],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.splitlines()[-1])


def large_table() -> dict:
    rows = []
    for units, path in LARGE:
        note(f"combat: one battle of {units:.0e} a side, {path}")
        rows.append(measure(units, path))
    met = all(
        row["seconds"] <= LARGE_LIMITS[row["units_per_side"]][0]
        and row["peak_rss_mb"] <= LARGE_LIMITS[row["units_per_side"]][1]
        for row in rows
        if row["units_per_side"] in LARGE_LIMITS
    )
    return {"sizes": rows, "meets_target": met}


def faithfulness_table(units: int, seeds: int) -> dict:
    rows = []
    for name in combat_faithful.MAKEUPS:
        note(f"combat: faithfulness, {name}")
        rows.append(combat_faithful.compare(name, units, seeds))
    met = bool(rows) and all(
        row["outcome_agreement"] >= 0.95
        and row["max_difference"] is not None
        and row["max_difference"] <= 0.02
        for row in rows
    )
    return {"units_per_side": units, "seeds": seeds, "makeups": rows, "meets_target": met}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--faithfulness-units", type=int, default=100_000)
    parser.add_argument("--faithfulness-seeds", type=int, default=50, help="0 skips the table")
    parser.add_argument("--battle", type=int, help=argparse.SUPPRESS)  # the measuring child
    parser.add_argument("--path", default="grouped", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.battle:
        print(json.dumps(one_battle(args.battle, args.path)), flush=True)
        return {}
    began = time.monotonic()
    load = os.getloadavg()[0]
    note("combat: bench/combat.py sizes")
    sizes = [engine_bench.bench(units) for units in engine_bench.SIZES]
    note("combat: the other code path (baseline)")
    baseline = [other_path(units) for units in engine_bench.SIZES]
    per = {row["units_per_side"]: row["seconds_per_battle"] for row in sizes}
    large = large_table()
    faithful = faithfulness_table(args.faithfulness_units, args.faithfulness_seeds)
    today = per.get(20_000, 1e9) <= 0.5 and per.get(10, 1e9) <= 0.001
    result = {
        "benchmark": "combat",
        "sizes": sizes,
        "baseline": {"setup": "the same battles on the engine's other exact code path", "sizes": baseline},
        "large": large,
        "faithfulness": faithful,
        "target": {
            "20000_v_20000_s_max": 0.5,
            "10_v_10_s_max": 0.001,
            "1e8_a_side_s_max": 10,
            "1e8_a_side_peak_mb_max": 1024,
            "1e12_a_side_s_max": 60,
            "survivors_difference_max": 0.02,
            "outcome_agreement_min": 0.95,
        },
        "meets_target": today
        and large["meets_target"]
        and (faithful["meets_target"] or not args.faithfulness_seeds),
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_1m_start": round(load, 2),
            "loadavg_1m_end": round(os.getloadavg()[0], 2),
        },
        "seconds": round(time.monotonic() - began, 1),
    }
    emit(result)
    return result


if __name__ == "__main__":
    main()
