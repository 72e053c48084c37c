"""Combat, for the suite: bench/combat.py's battles in one JSON object, with a baseline and targets.

    .venv/bin/python -m bench.combat_suite

Runs `bench.combat.bench(units)` for every size of bench/combat.py (10, 1,000 and 20,000 units a
side; about 4 s each, seeds 0, 1, 2...), exactly as `.venv/bin/python bench/combat.py` does, and puts
its rows under `sizes`. Baseline, measured in the same run: the same battles on the engine's other
code path (`combat.engine._resolve(..., vectorised=...)`): numpy for 10 v 10, where the engine
picks pure Python, and pure Python for the large ones, where it picks numpy. The two paths give
identical results (tests/combat), so the baseline shows what the choice of path is worth.
Targets: 20,000 v 20,000 <= 0.5 s and 10 v 10 <= 1 ms per battle.
"""

from __future__ import annotations

import os
import time

from bench import combat as engine_bench
from bench.harness import emit, note

BASELINE_BUDGET = 1.0  # seconds per size (at least BASELINE_MIN_RUNS battles)
BASELINE_MIN_RUNS = 3


def other_path(units: int) -> dict:
    from combat.engine import SMALL_BATTLE_UNITS, _resolve

    attacker, defender = engine_bench.sides(units)
    vectorised = 2 * units <= SMALL_BATTLE_UNITS  # the path the engine does NOT pick
    _resolve(attacker, defender, seed=10**9, vectorised=vectorised)  # warm-up
    runs, start, elapsed = 0, time.perf_counter(), 0.0
    while runs < BASELINE_MIN_RUNS or elapsed < BASELINE_BUDGET:
        _resolve(attacker, defender, seed=runs, vectorised=vectorised)
        runs += 1
        elapsed = time.perf_counter() - start
    return {
        "units_per_side": units,
        "path": "numpy" if vectorised else "python",
        "seconds_per_battle": round(elapsed / runs, 6),
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> dict:
    began = time.monotonic()
    load = os.getloadavg()[0]
    note("combat: bench/combat.py sizes")
    sizes = [engine_bench.bench(units) for units in engine_bench.SIZES]
    note("combat: the other code path (baseline)")
    baseline = [other_path(units) for units in engine_bench.SIZES]
    per = {row["units_per_side"]: row["seconds_per_battle"] for row in sizes}
    result = {
        "benchmark": "combat",
        "sizes": sizes,
        "baseline": {"setup": "the same battles on the engine's other code path", "sizes": baseline},
        "target": {"20000_v_20000_s_max": 0.5, "10_v_10_s_max": 0.001},
        "meets_target": per.get(20_000, 1e9) <= 0.5 and per.get(10, 1e9) <= 0.001,
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
