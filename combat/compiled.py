"""The battle engine's path for small battles, compiled with numba: unit by unit, as the rules read.

:mod:`combat.engine` sends a battle of at most ``SMALL_BATTLE_UNITS`` units here. Interpreted, a
50 v 50 battle cost about 0.7 ms of CPU, most of it in the loop over shots and in the overhead of
a few dozen small numpy calls; compiled, the loop takes about 0.1 ms (the whole battle 0.3). The
results must stay bit for bit those of the numpy path (and of every battle already stored in a
report, which a replay fights again from its seed): the same draws from the same
``numpy.random.Generator`` (numba draws from the very generator it is given, with numpy's
algorithms), in the same order, and the same float operations (no fastmath).
``tests/combat/test_engine.py`` checks both.

Draw order within a volley (see the rules in :mod:`combat.engine`): the targets of every armed
shooter, then for the shots that may chain one uniform each, then the next wave's targets, and so
on; then one uniform per shot, in shooter order, each rapid-fire chain in order.

numba compiles these functions once per machine and keeps the machine code in ``NUMBA_CACHE_DIR``
if set (the image and the systemd units set it), else next to this file (``__pycache__``).
``warm_up`` loads it, or compiles it (about 10 s), so that no battle waits for it: a worker calls
it at its first idle moment (``combat.apps``), and the set-up scripts once after installing
(``deploy/python.sh``).
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from numba import config, njit

from combat.engine import _N_TYPES, _RF_PROB_NP, EXPLOSION_HULL_FRACTION, MAX_ROUNDS, _RoundCounts, _Stats


def fallback_cache_dir(source: Path = Path(__file__)) -> str | None:
    """Where to keep the compiled code when numba's place for it cannot be written: NUMBA_CACHE_DIR
    if set, else next to the code, which may be read-only (a hardened service, a package installed
    by root). numba then refuses to import a module that caches its functions; a directory in the
    temporary one is better (compiled again once it is cleared) than a worker that cannot start.
    None when numba's place can be written."""
    wanted = Path(config.CACHE_DIR) if config.CACHE_DIR else source.parent / "__pycache__"
    nearest = next(path for path in (wanted, *wanted.parents) if path.exists())  # created if missing
    if os.access(nearest, os.W_OK):
        return None
    return str(Path(tempfile.gettempdir()) / f"galactic-numba-{os.getuid()}")


config.CACHE_DIR = fallback_cache_dir() or config.CACHE_DIR  # before numba's first cached function


def fight_compiled(
    gen: np.random.Generator, a_counts: list[int], d_counts: list[int], a_stats: _Stats, d_stats: _Stats
) -> tuple[list[_RoundCounts], list[int], list[int]]:
    """The rounds of a battle (both sides non-empty): (counts per round, attacker's, defender's final)."""
    # numba freezes the globals a function reads into its compiled code, and its cache goes stale
    # only when this file changes: what combat.engine defines goes in as arguments.
    log = _fight(
        gen,
        np.repeat(np.arange(_N_TYPES, dtype=np.int64), a_counts),
        np.repeat(np.arange(_N_TYPES, dtype=np.int64), d_counts),
        np.array((a_stats.attack, a_stats.shield, a_stats.hull), dtype=np.float64),
        np.array((d_stats.attack, d_stats.shield, d_stats.hull), dtype=np.float64),
        _RF_PROB_NP,
        MAX_ROUNDS,
        EXPLOSION_HULL_FRACTION,
    ).tolist()
    rounds = [(attacker, defender) for attacker, defender in log]
    return rounds, list(rounds[-1][0]), list(rounds[-1][1])


def warm_up() -> float:
    """Load the compiled code (compile it if this machine has none yet); the seconds it took."""
    started = time.perf_counter()
    one = [1] + [0] * (_N_TYPES - 1)
    stats = _Stats(attack=[1.0] * _N_TYPES, shield=[1.0] * _N_TYPES, hull=[1.0] * _N_TYPES)
    fight_compiled(np.random.Generator(np.random.PCG64(0)), one, one, stats, stats)
    return time.perf_counter() - started


ATTACK, SHIELD, HULL = 0, 1, 2  # rows of a side's stats: per unit type, technology included


@njit(cache=True)
def _fight(gen, a_types, d_types, a_stats, d_stats, rapid_fire, max_rounds, explodes_below):
    """Up to `max_rounds` rounds; per round, the units of each type alive at its end (rounds x 2 x
    types). A side's units: their types (ships first, then defences, in catalogue order) and hulls;
    shields are full at the start of every round. A unit may explode once its hull is at or below
    `explodes_below` of its full hull."""
    log = np.zeros((max_rounds, 2, a_stats.shape[1]), np.int64)
    a_hull, d_hull = a_stats[HULL][a_types], d_stats[HULL][d_types]
    rounds = 0
    while rounds < max_rounds:
        a_alive, d_alive = np.ones(a_types.size, np.bool_), np.ones(d_types.size, np.bool_)
        a_shield, d_shield = a_stats[SHIELD][a_types], d_stats[SHIELD][d_types]
        _volley(
            gen, a_types, a_stats, d_types, d_stats, d_hull, d_shield, d_alive, rapid_fire, explodes_below
        )
        _volley(
            gen, d_types, d_stats, a_types, a_stats, a_hull, a_shield, a_alive, rapid_fire, explodes_below
        )
        a_types, a_hull = a_types[a_alive], a_hull[a_alive]
        d_types, d_hull = d_types[d_alive], d_hull[d_alive]
        for kind in a_types:
            log[rounds, 0, kind] += 1
        for kind in d_types:
            log[rounds, 1, kind] += 1
        rounds += 1
        if a_types.size == 0 or d_types.size == 0:
            break
    return log[:rounds]


@njit(cache=True)
def _volley(gen, s_types, s_stats, t_types, t_stats, t_hull, t_shield, t_alive, rapid_fire, explodes_below):
    """Every armed unit of the shooting side fires (with rapid fire) at the target side, whose
    hulls, shields and alive flags it updates in place."""
    shooters = np.flatnonzero(s_stats[ATTACK][s_types] > 0)
    if shooters.size == 0:
        return
    by, at = _shots(gen, shooters, s_types, t_types, rapid_fire)
    uniforms = gen.random(by.size)
    for j in range(by.size):
        target = at[j]
        if not t_alive[target]:
            continue  # a wreck: the shot is wasted (its uniform drawn all the same)
        kind = t_types[target]
        t_shield[target], t_hull[target], destroyed = shot(
            s_stats[ATTACK][s_types[shooters[by[j]]]],
            t_shield[target],
            t_hull[target],
            t_stats[SHIELD][kind],
            t_stats[HULL][kind],
            uniforms[j],
            explodes_below,
        )
        if destroyed:
            t_alive[target] = False


@njit(cache=True)
def shot(damage, shield, hull, full_shield, full_hull, u, explodes_below):
    """One shot of `damage` on a unit: its (shield, hull, destroyed) after it. `u` is the uniform
    number in [0, 1) that decides a possible explosion (combat.engine._apply_shot states the rule)."""
    if 100.0 * damage < full_shield:  # below 1% of the full shield: bounces
        return shield, hull, False
    if damage <= shield:
        shield = shield - math.floor(100.0 * damage / full_shield) * full_shield / 100.0
    else:
        hull = hull - (damage - shield)
        shield = 0.0
    destroyed = hull <= 0 or (
        shield == 0 and hull <= explodes_below * full_hull and u < 1.0 - hull / full_hull
    )
    return shield, hull, destroyed


@njit(cache=True)
def _shots(gen, shooters, s_types, t_types, rapid_fire):
    """Every shot of the volley as (shooter's position in `shooters`, target), in shooter order,
    each rapid-fire chain in order; drawn in waves: a target for each shooter still firing, then a
    uniform for each shot that may chain."""
    by, at = np.empty(4 * shooters.size, np.int64), np.empty(4 * shooters.size, np.int64)
    shots = 0
    firing = np.arange(shooters.size)
    while firing.size:
        picks = gen.integers(0, t_types.size, firing.size)
        if shots + firing.size > by.size:
            by, at = (
                _grown(by, shots, 2 * (shots + firing.size)),
                _grown(at, shots, 2 * (shots + firing.size)),
            )
        chance = np.empty(firing.size)
        for i in range(firing.size):
            by[shots], at[shots] = firing[i], picks[i]
            shots += 1
            chance[i] = rapid_fire[s_types[shooters[firing[i]]], t_types[picks[i]]]
        may_chain = np.flatnonzero(chance > 0.0)
        if may_chain.size == 0:
            break
        again = gen.random(may_chain.size) < chance[may_chain]
        firing = firing[may_chain[again]]
    # waves -> shooter order, each shooter's shots in wave order (a stable counting sort)
    order, start = np.empty(shots, np.int64), np.zeros(shooters.size + 1, np.int64)
    for i in range(shots):
        start[by[i] + 1] += 1
    start = np.cumsum(start)
    for i in range(shots):
        order[start[by[i]]] = i
        start[by[i]] += 1
    return by[order], at[order]


@njit(cache=True)
def _grown(array, used, size):
    bigger = np.empty(size, array.dtype)
    bigger[:used] = array[:used]
    return bigger
