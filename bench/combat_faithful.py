"""The grouped mode against the exact engine: the same battles, many seeds, mean survivors per type.

    .venv/bin/python -m bench.combat_faithful [--units 100000] [--seeds 50] [--makeup NAME ...]

Every make-up of ``MAKEUPS`` is fought ``--seeds`` times on the exact numpy path and in grouped mode
(seeds 0, 1, 2, ...). Prints one JSON object per make-up: for every type, the mean number of units
left after the battle (the defender's after rebuilding) in each mode and their relative
difference (and that difference in standard errors, ``z``), and how often the outcomes agree seed
by seed. ``bench.combat_suite`` puts these rows in
its ``faithfulness`` table, and tests/combat/test_grouped.py asserts them on a few make-ups.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from combat.engine import BattleResult, Side, _resolve
from galactic.ships import DEFENCES, SHIPS

ALL_SHIPS = tuple(SHIPS)

# Each make-up: (attacker, defender) for `units` units a side, as shares of `units`.
Makeup = Callable[[int], tuple[Side, Side]]


def _side(units: int, mix: dict[str, float], **tech: int) -> Side:
    counts = {name: round(units * share) for name, share in mix.items()}
    ships = {name: n for name, n in counts.items() if name not in DEFENCES}
    defences = {name: n for name, n in counts.items() if name in DEFENCES}
    return Side(ships, defences, **tech)


MAKEUPS: dict[str, Makeup] = {
    # bench/combat.py's mix: every ship type against ships and defences.
    "mixed": lambda n: (
        _side(
            n,
            {"light_fighter": 0.4, "heavy_fighter": 0.2, "cruiser": 0.15, "battleship": 0.1}
            | {"small_cargo": 0.05, "large_cargo": 0.05, "espionage_probe": 0.05},
            weapons=2,
            shielding=2,
            armour=2,
        ),
        _side(
            n,
            {"light_fighter": 0.3, "cruiser": 0.1, "battleship": 0.05}
            | {"rocket_launcher": 0.3, "light_laser": 0.15, "heavy_laser": 0.1},
            weapons=2,
            shielding=2,
            armour=3,
        ),
    ),
    # Rapid fire 6: cruisers chain through light fighters.
    "cruisers_v_fighters": lambda n: (
        _side(n, {"cruiser": 0.35, "light_fighter": 0.65}),
        _side(n, {"light_fighter": 0.85, "heavy_fighter": 0.15}, armour=2),
    ),
    # Rapid fire 10: cruisers chain through rocket launchers (chains of ten shots on average).
    "cruisers_v_rockets": lambda n: (
        _side(n, {"cruiser": 0.3, "heavy_fighter": 0.7}),
        _side(n, {"rocket_launcher": 0.7, "light_laser": 0.2, "heavy_laser": 0.1}),
    ),
    # Rapid fire 5 against probes on both sides: every armed ship chains through a probe screen.
    "probe_screens": lambda n: (
        _side(n, {"battleship": 0.1, "heavy_fighter": 0.3, "espionage_probe": 0.6}, armour=2),
        _side(n, {"cruiser": 0.1, "heavy_fighter": 0.2, "espionage_probe": 0.5, "heavy_laser": 0.2}),
    ),
    # Rapid fire 3: heavy fighters through small cargos.
    "fighters_v_cargos": lambda n: (
        _side(n, {"heavy_fighter": 0.4, "light_fighter": 0.6}),
        _side(n, {"small_cargo": 0.6, "large_cargo": 0.2, "heavy_fighter": 0.2}, weapons=3),
    ),
    # Bounces: shields of 520 (shielding 16) turn the cargos' shots (5) away and take the light
    # fighters' (50) in 1% steps of 5.2.
    "bouncing_shots": lambda n: (
        _side(n, {"small_cargo": 0.3, "large_cargo": 0.2, "light_fighter": 0.5}),
        _side(n // 35, {"battleship": 1.0}, shielding=16),
    ),
    # The same at weapons 1: the cargos' shots (5.5) are just above 1% of the shield and take it
    # down one step (5.2) at a time, so hulls take odd remainders: many distinct hull values.
    "fine_steps": lambda n: (
        _side(n, {"small_cargo": 0.3, "large_cargo": 0.2, "light_fighter": 0.5}, weapons=1),
        _side(n // 25, {"battleship": 1.0}, shielding=16),
    ),
    # 1% steps: light fighters (50) wear down heavy lasers' shields (100) two shots at a time.
    "shield_steps": lambda n: (
        _side(n, {"light_fighter": 0.8, "heavy_fighter": 0.2}),
        _side(n // 4, {"heavy_laser": 0.6, "light_laser": 0.4}),
    ),
    # Defences only, most rebuilt afterwards.
    "defences": lambda n: (
        _side(n, {"battleship": 0.2, "heavy_fighter": 0.8}, weapons=1, armour=1),
        _side(n * 2, {"rocket_launcher": 0.5, "light_laser": 0.3, "heavy_laser": 0.2}, shielding=2),
    ),
    # An attacker win that costs the attacker: the defender is wiped out within a few rounds.
    "attacker_win": lambda n: (
        _side(n, {"battleship": 0.2, "cruiser": 0.3, "light_fighter": 0.5}, weapons=2, shielding=2, armour=2),
        _side(n, {"light_fighter": 0.5, "heavy_fighter": 0.2, "rocket_launcher": 0.2, "light_laser": 0.1}),
    ),
    # A defender win that costs the defender: the attacker is wiped out within a few rounds.
    "defender_win": lambda n: (
        _side(n, {"light_fighter": 0.6, "heavy_fighter": 0.3, "small_cargo": 0.1}),
        _side(
            n // 2, {"battleship": 0.2, "cruiser": 0.3, "heavy_laser": 0.2, "rocket_launcher": 0.3}, armour=2
        ),
    ),
    # Technology against numbers: a third as many units at 10 levels higher.
    "tech_v_numbers": lambda n: (
        _side(n // 3, {"battleship": 0.3, "cruiser": 0.7}, weapons=10, shielding=10, armour=10),
        _side(n, {"cruiser": 0.3, "heavy_fighter": 0.7}),
    ),
    # Every type: the attacker's ships in equal shares, the defender's half ships, half defences.
    "everything": lambda n: (
        _side(n, dict.fromkeys(ALL_SHIPS, 1 / 7)),
        _side(n, dict.fromkeys(ALL_SHIPS, 0.5 / 7) | dict.fromkeys(DEFENCES, 0.5 / 3)),
    ),
}

# A type's mean survivors are compared in relative terms (within 2%) when the battles' own noise
# allows it: at least this many units left on average, and a standard error of the difference of
# the means at most 0.5% of them (so 2% is 4 standard errors). The others are shown with their
# difference in standard errors (``z``).
COMPARED_MIN_UNITS = 1_000
COMPARED_MAX_ERROR = 0.005
PATHS = ("numpy", "grouped")


def _left(result: BattleResult) -> dict[str, int]:
    """Units left after the battle, per "side.type" (the defender's after rebuilding)."""
    left = {f"attacker.{name}": n for name, n in result.attacker_survivors.items()}
    left |= {f"defender.{name}": n for name, n in (result.defender_ships | result.defender_defences).items()}
    return left


def _brought(attacker: Side, defender: Side) -> dict[str, int]:
    brought = {f"attacker.{name}": n for name, n in attacker.ships.items() if n}
    return brought | {
        f"defender.{name}": n for name, n in (dict(defender.ships) | dict(defender.defences)).items() if n
    }


def compare(name: str, units: int, seeds: int) -> dict:
    """Fight make-up ``name`` with ``units`` a side ``seeds`` times in both modes; see the module."""
    attacker, defender = MAKEUPS[name](units)
    results: dict[str, list[BattleResult]] = {}
    seconds: dict[str, float] = {}
    for path in PATHS:
        start = time.perf_counter()
        results[path] = [_resolve(attacker, defender, seed=seed, path=path) for seed in range(seeds)]
        seconds[path] = round((time.perf_counter() - start) / seeds, 4)
    types = [_type_row(key, brought, results) for key, brought in _brought(attacker, defender).items()]
    pairs = zip(results["numpy"], results["grouped"], strict=True)
    compared_differences = [abs(t["difference"]) for t in types if t["compared"]]
    return {
        "makeup": name,
        "units_per_side": units,
        "seeds": seeds,
        "outcomes": {path: _tally(r.outcome for r in results[path]) for path in PATHS},
        "outcome_agreement": sum(e.outcome == g.outcome for e, g in pairs) / seeds,
        "max_difference": max(compared_differences, default=None),
        "max_abs_z": max((abs(t["z"]) for t in types if t["z"] is not None), default=None),
        "types": types,
        "seconds_per_battle": {"exact": seconds["numpy"], "grouped": seconds["grouped"]},
    }


def _type_row(key: str, brought: int, results: dict[str, list[BattleResult]]) -> dict:
    """Mean units of one type left in each mode, their difference, and whether it can be judged."""
    exact, grouped = ([_left(r).get(key, 0) for r in results[path]] for path in PATHS)
    mean_e, mean_g = statistics.fmean(exact), statistics.fmean(grouped)
    # standard error of the difference of the two means (independent seeds in the two modes)
    # (one battle a mode says nothing of the noise: then nothing is compared)
    spread = statistics.variance(exact) + statistics.variance(grouped) if len(exact) > 1 else math.inf
    error = math.sqrt(spread / len(exact))
    return {
        "side": key.split(".")[0],
        "type": key.split(".")[1],
        "brought": brought,
        "exact": round(mean_e, 1),
        "grouped": round(mean_g, 1),
        "difference": round((mean_g - mean_e) / mean_e, 4) if mean_e else None,
        "z": round((mean_g - mean_e) / error, 2) if 0 < error < math.inf else None,
        "compared": mean_e >= COMPARED_MIN_UNITS and error <= COMPARED_MAX_ERROR * mean_e,
    }


def _tally(outcomes) -> dict[str, int]:
    tally: dict[str, int] = {}
    for outcome in outcomes:
        tally[outcome] = tally.get(outcome, 0) + 1
    return tally


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--units", type=int, default=100_000, help="units a side (default 100,000)")
    parser.add_argument("--seeds", type=int, default=50, help="battles per make-up and mode (default 50)")
    parser.add_argument("--makeup", action="append", choices=sorted(MAKEUPS), help="only these make-ups")
    args = parser.parse_args(argv)
    if args.units < 1 or args.seeds < 1:
        parser.error("--units and --seeds must be positive")
    for name in args.makeup or MAKEUPS:
        print(json.dumps(compare(name, args.units, args.seeds)), flush=True)


if __name__ == "__main__":
    main()
