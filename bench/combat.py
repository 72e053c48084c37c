"""Benchmark of the battle engine: battles per second at 10, 1,000 and 20,000 units a side.

Run from the repository root: ``.venv/bin/python bench/combat.py``. Prints one JSON object per
line: {"benchmark": "combat", "units_per_side", "battles_per_second", "seconds_per_battle",
"rounds" (mean rounds played), "runs"}. Each size runs for about ``BUDGET_SECONDS`` (at least
``MIN_RUNS`` battles), with seeds 0, 1, 2, ... so the figures are reproducible.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from combat.engine import Side, resolve_battle

SIZES = (10, 1_000, 20_000)
BUDGET_SECONDS = 4.0
MIN_RUNS = 5
MAX_RUNS = 5_000

# Share of each type in a side (sums to 1).
ATTACKER_MIX = {
    "light_fighter": 0.40,
    "heavy_fighter": 0.20,
    "cruiser": 0.15,
    "battleship": 0.10,
    "small_cargo": 0.05,
    "large_cargo": 0.05,
    "espionage_probe": 0.05,
}
DEFENDER_MIX = {
    "light_fighter": 0.30,
    "cruiser": 0.10,
    "battleship": 0.05,
    "rocket_launcher": 0.30,
    "light_laser": 0.15,
    "heavy_laser": 0.10,
}


def split(total: int, mix: dict[str, float]) -> dict[str, int]:
    """``total`` units shared out by ``mix`` (largest remainder, so the counts sum to ``total``)."""
    exact = {name: total * share for name, share in mix.items()}
    counts = {name: int(value) for name, value in exact.items()}
    left = total - sum(counts.values())
    for name in sorted(exact, key=lambda n: exact[n] - counts[n], reverse=True)[:left]:
        counts[name] += 1
    return counts


def sides(units: int) -> tuple[Side, Side]:
    attacker = Side(split(units, ATTACKER_MIX), weapons=2, shielding=2, armour=2)
    defender_units = split(units, DEFENDER_MIX)
    ships = {
        name: n for name, n in defender_units.items() if name in ("light_fighter", "cruiser", "battleship")
    }
    defences = {name: n for name, n in defender_units.items() if name not in ships}
    return attacker, Side(ships, defences, weapons=2, shielding=2, armour=3)


def bench(units: int) -> dict[str, object]:
    attacker, defender = sides(units)
    resolve_battle(attacker, defender, seed=10**9)  # warm-up
    runs = rounds = 0
    start = time.perf_counter()
    elapsed = 0.0
    while runs < MAX_RUNS and (runs < MIN_RUNS or elapsed < BUDGET_SECONDS):
        rounds += resolve_battle(attacker, defender, seed=runs).rounds
        runs += 1
        elapsed = time.perf_counter() - start
    return {
        "benchmark": "combat",
        "units_per_side": units,
        "battles_per_second": round(runs / elapsed, 2),
        "seconds_per_battle": round(elapsed / runs, 6),
        "rounds": round(rounds / runs, 2),
        "runs": runs,
    }


def main() -> None:
    for units in SIZES:
        print(json.dumps(bench(units)), flush=True)


if __name__ == "__main__":
    main()
