"""The battle engine of RULES.md ("Combat"): pure, seeded, vectorised per unit array.

No Django here: only numpy, numba (:mod:`combat.compiled`), the standard library and the unit
catalogue of :mod:`galactic.ships`.
Call :func:`resolve_battle` with two :class:`Side` values and a seed; the same inputs and seed always
give the same :class:`BattleResult`, so storing the seed in the battle report is enough to replay it.

Rules as implemented (RULES.md is the authority; where it is silent or ambiguous these are the
interpretations chosen):

* Units: every ship and defence is expanded into units (ships first, then defences, each type in
  catalogue order and its units consecutive, whatever the order of the input mappings). Technology
  multiplies full attack, shield and hull by ``1 + 0.1 * level`` (weapons, shielding, armour).
* Randomness: one ``numpy.random.Generator(PCG64(seed))`` per battle, used for everything
  (targets, rapid fire, explosions, then defence rebuild).
* Rounds: at most 6. In each round every attacking unit with attack > 0 fires, then every
  defending unit with attack > 0 fires. All units alive at the start of the round fire, including
  those destroyed earlier in the same round (destroyed units only leave at the end of the round),
  so fire is effectively simultaneous and the attacker-first order only fixes the order in which
  random numbers are drawn.
* Targets: every shot picks a uniformly random enemy unit among those alive at the start of the
  round. A shot on a unit already destroyed in this round is wasted.
* Rapid fire: after a shot at a target of type T (whatever happened to the shot: hit, bounce or
  wasted on a wreck), a shooter with ``RAPID_FIRE[shooter][T] = RF > 1`` shoots again at a new
  random target with probability ``1 - 1/RF``; this chains.
* Shot order on one target: shots are applied in shooter order (the unit order above), each
  shooter's rapid-fire chain in order; shots on different targets are independent.
* Damage ``d`` against a unit with full shield ``S``, current shield ``s`` and hull ``h``:
  if ``d < 1% of S`` the shot bounces (no effect at all). If ``d <= s`` the shield absorbs it and
  loses ``d`` rounded down to whole steps of ``1% of S`` (the hull is untouched). Otherwise the
  shield drops to 0 and the hull takes ``d - s``.
* Explosion: after every shot that did not bounce, a unit whose shield is 0 and whose hull is at
  or below 70% of its full hull explodes with probability ``1 - hull / full hull``; a hull at or
  below 0 destroys it. One uniform number is drawn per shot (also for shots that turn out to
  bounce or be wasted) so that the random stream does not depend on the order of evaluation.
* End of round: destroyed units leave and shields are restored to full; hull damage stays.
  The battle ends after 6 rounds or as soon as one side has no unit left.
* Outcome (decided at the end of the fight, before defences are rebuilt): ``"attacker"`` if the
  defender has nothing left (this includes the case where both sides are wiped out),
  ``"defender"`` if the attacker has nothing left and the defender has something, ``"draw"``
  otherwise (both sides still standing after 6 rounds).
* Rebuild: after the battle each destroyed defence is rebuilt with probability 70% (drawn as one
  binomial per defence type, catalogue order, same generator).
* Debris: 30%, rounded down, of the summed metal and of the summed crystal cost of all destroyed
  ships of both sides; defences make no debris.
* ``rounds`` is 0 (and ``round_log`` empty) if one side had no unit before the battle.
  ``round_log`` lists, per round, the units alive at the end of the round for every type the side
  brought into the battle (a type wiped out shows 0).

Two exact code paths produce bit-identical results (same random draws in the same order, same float
operations): for small battles, a unit-by-unit loop compiled with numba (:mod:`combat.compiled`),
where an interpreted loop or numpy's per-call overhead would dominate, and a numpy path for larger
ones, which applies the shots of a volley grouped by target, one "k-th shot on every target" wave at
a time. Both hold every unit (the numpy path about 150 bytes each), so above
``GROUPED_BATTLE_UNITS`` units (both sides together) the battle goes to the grouped mode of
:mod:`combat.grouped`: units of a type grouped by hull, the shots and hits of a group drawn from
their distributions, memory independent of the number of units; same rules, its own draws (its
docstring says what it keeps exactly and what it approximates). :func:`path_for` tells which path a
battle takes.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from galactic.ships import DEFENCES, RAPID_FIRE, SHIPS, UNITS

__all__ = ["BattleResult", "Side", "resolve_battle"]

MAX_ROUNDS = 6
REBUILD_PROBABILITY = 0.7
DEBRIS_PERCENT = 30
EXPLOSION_HULL_FRACTION = 0.7
# Battles with at most this many units (both sides together) use the compiled path, up to
# GROUPED_BATTLE_UNITS the numpy path (both exact), and above it the grouped mode (combat.grouped).
SMALL_BATTLE_UNITS = 600
GROUPED_BATTLE_UNITS = 200_000
PATHS = ("compiled", "numpy", "grouped")
# Per type and side: the grouped mode counts units and shots in int64 (about 10 shots a unit at most
# on average with rapid fire 10, so 10**15 units leave a margin of 900 to 2**63).
MAX_UNITS = 10**15

_NAMES: tuple[str, ...] = tuple(SHIPS) + tuple(DEFENCES)
_INDEX: dict[str, int] = {name: i for i, name in enumerate(_NAMES)}
_N_TYPES = len(_NAMES)
_N_SHIPS = len(SHIPS)
_IS_SHIP = tuple(i < _N_SHIPS for i in range(_N_TYPES))

# _RF_PROB_NP[shooter, target]: probability of another shot after a shot at `target`.
_RF_PROB_NP = np.array(
    [
        [
            1.0 - 1.0 / rf if (rf := RAPID_FIRE.get(shooter, {}).get(target, 0)) > 1 else 0.0
            for target in _NAMES
        ]
        for shooter in _NAMES
    ],
    dtype=np.float64,
)


@dataclass(frozen=True)
class Side:
    """One side of a battle: ships and defences by type, and combat technology levels.

    ``weapons``, ``shielding`` and ``armour`` add 10% attack, shield and hull per level.
    The attacker brings no defences.
    """

    ships: Mapping[str, int]
    defences: Mapping[str, int] = field(default_factory=dict)
    weapons: int = 0
    shielding: int = 0
    armour: int = 0

    def __post_init__(self) -> None:
        _unit_counts(self)


@dataclass(frozen=True)
class BattleResult:
    """What a battle did. Every dict is JSON-serialisable; unit dicts omit types with a count of 0
    (except ``round_log``, which lists every type a side brought)."""

    outcome: str
    rounds: int
    round_log: list[dict]
    attacker_survivors: dict[str, int]
    defender_ships: dict[str, int]
    defender_defences: dict[str, int]
    attacker_losses: dict[str, int]
    defender_losses: dict[str, int]
    rebuilt: dict[str, int]
    debris: dict[str, int]


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{what} must be an integer, got {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise ValueError(f"{what} must be an integer, got {value!r}") from None
    if number < 0:
        raise ValueError(f"{what} must not be negative, got {number}")
    return number


def _unit_counts(side: Side) -> list[int]:
    """Validated unit counts of a side, indexed like ``_NAMES``."""
    counts = [0] * _N_TYPES
    for mapping, catalogue, kind in ((side.ships, SHIPS, "ship"), (side.defences, DEFENCES, "defence")):
        if not isinstance(mapping, Mapping):
            raise ValueError(f"{kind}s must be a mapping of type name to count")
        for name, value in mapping.items():
            if name not in catalogue:
                raise ValueError(f"unknown {kind} type {name!r}")
            counts[_INDEX[name]] += _count(value, f"count of {name}")
    if max(counts) > MAX_UNITS:
        raise ValueError(f"at most {MAX_UNITS} units of a type per side")
    for tech in ("weapons", "shielding", "armour"):
        _count(getattr(side, tech), f"{tech} level")
    return counts


@dataclass(frozen=True, slots=True)
class _Stats:
    """Full per-type combat values of one side, technology included (indexed like ``_NAMES``)."""

    attack: list[float]
    shield: list[float]
    hull: list[float]

    @classmethod
    def of(cls, side: Side) -> _Stats:
        units = [UNITS[name] for name in _NAMES]
        return cls(
            attack=[u.attack * (10 + side.weapons) / 10 for u in units],
            shield=[u.shield * (10 + side.shielding) / 10 for u in units],
            hull=[u.hull * (10 + side.armour) / 10 for u in units],
        )


def resolve_battle(attacker: Side, defender: Side, *, seed: int) -> BattleResult:
    """Fight a battle between ``attacker`` and ``defender``; deterministic for a given ``seed``.

    Raises ``ValueError`` for unknown unit types, negative counts or levels, more than
    ``MAX_UNITS`` units of a type, or an attacker that brings defences.
    """
    return _resolve(attacker, defender, seed=seed)


def path_for(units: int) -> str:
    """The code path the engine takes for a battle of ``units`` units (both sides together)."""
    if units <= SMALL_BATTLE_UNITS:
        return "compiled"
    return "numpy" if units <= GROUPED_BATTLE_UNITS else "grouped"


def _resolve(attacker: Side, defender: Side, *, seed: int, path: str | None = None) -> BattleResult:
    """:func:`resolve_battle` with the code path selectable (``None``: chosen by battle size)."""
    a_counts, d_counts = _unit_counts(attacker), _unit_counts(defender)
    if any(a_counts[_N_SHIPS:]):
        raise ValueError("the attacker cannot bring defences")
    if path is None:
        path = path_for(sum(a_counts) + sum(d_counts))
    elif path not in PATHS:
        raise ValueError(f"unknown path {path!r}; choose from {', '.join(PATHS)}")
    gen = np.random.Generator(np.random.PCG64(operator.index(seed)))
    rounds, a_final, d_final = _fight(path, gen, a_counts, d_counts, _Stats.of(attacker), _Stats.of(defender))
    rebuilt = _rebuild(gen, d_counts, d_final)
    return _result(a_counts, d_counts, rounds, a_final, d_final, rebuilt)


def _fight(
    path: str,
    gen: np.random.Generator,
    a_counts: list[int],
    d_counts: list[int],
    a_stats: _Stats,
    d_stats: _Stats,
) -> tuple[list[_RoundCounts], list[int], list[int]]:
    """The rounds of the battle on the chosen path: (counts per round, attacker's, defender's final)."""
    if sum(a_counts) == 0 or sum(d_counts) == 0:
        return [], list(a_counts), list(d_counts)
    if path == "grouped":
        from combat.grouped import fight_grouped  # builds on this module's definitions

        return fight_grouped(gen, a_counts, d_counts, a_stats, d_stats)
    if path == "compiled":
        from combat.compiled import fight_compiled  # numba, loaded only where battles are fought

        return fight_compiled(gen, a_counts, d_counts, a_stats, d_stats)
    return _fight_numpy(gen, a_counts, d_counts, a_stats, d_stats)


def _rebuild(gen: np.random.Generator, d_counts: list[int], d_final: list[int]) -> list[int]:
    """Defences rebuilt after the battle, per type: one binomial per defence type, catalogue order."""
    rebuilt = [0] * _N_TYPES
    destroyed = [d_counts[i] - d_final[i] for i in range(_N_SHIPS, _N_TYPES)]
    if any(destroyed):
        drawn = gen.binomial(np.array(destroyed, dtype=np.int64), REBUILD_PROBABILITY)
        rebuilt[_N_SHIPS:] = drawn.tolist()
    return rebuilt


def _outcome(a_final: list[int], d_final: list[int]) -> str:
    """Decided before defences are rebuilt; the attacker wins only if the defender has nothing left."""
    if not any(d_final):
        return "attacker"
    return "defender" if not any(a_final) else "draw"


def _debris(
    a_counts: list[int], d_counts: list[int], a_final: list[int], d_final: list[int]
) -> dict[str, int]:
    """30% (rounded down) of the metal and crystal of the ships destroyed on both sides."""
    metal = crystal = 0
    for i in range(_N_SHIPS):
        lost = (a_counts[i] - a_final[i]) + (d_counts[i] - d_final[i])
        cost = UNITS[_NAMES[i]].cost
        metal += lost * cost[0]
        crystal += lost * cost[1]
    return {"metal": metal * DEBRIS_PERCENT // 100, "crystal": crystal * DEBRIS_PERCENT // 100}


def _pick(counts: list[int], ships: bool | None = None) -> dict[str, int]:
    """The non-zero counts by type name (only ships, or only defences, if ``ships`` says so)."""
    return {_NAMES[i]: int(n) for i, n in enumerate(counts) if n and (ships is None or _IS_SHIP[i] == ships)}


def _round_log(rounds: list[_RoundCounts], a_counts: list[int], d_counts: list[int]) -> list[dict]:
    """Per round, the units alive at its end of every type a side brought."""
    a_types = [i for i in range(_N_TYPES) if a_counts[i]]
    d_types = [i for i in range(_N_TYPES) if d_counts[i]]
    return [
        {
            "attacker": {_NAMES[i]: int(a_round[i]) for i in a_types},
            "defender": {_NAMES[i]: int(d_round[i]) for i in d_types},
        }
        for a_round, d_round in rounds
    ]


def _result(
    a_counts: list[int],
    d_counts: list[int],
    rounds: list[_RoundCounts],
    a_final: list[int],
    d_final: list[int],
    rebuilt: list[int],
) -> BattleResult:
    d_after = [d_final[i] + rebuilt[i] for i in range(_N_TYPES)]
    return BattleResult(
        outcome=_outcome(a_final, d_final),
        rounds=len(rounds),
        round_log=_round_log(rounds, a_counts, d_counts),
        attacker_survivors=_pick(a_final),
        defender_ships=_pick(d_after, ships=True),
        defender_defences=_pick(d_after, ships=False),
        attacker_losses=_pick([a_counts[i] - a_final[i] for i in range(_N_TYPES)]),
        defender_losses=_pick([d_counts[i] - d_after[i] for i in range(_N_TYPES)]),
        rebuilt=_pick(rebuilt),
        debris=_debris(a_counts, d_counts, a_final, d_final),
    )


_RoundCounts = tuple[list[int], list[int]]


# --------------------------------------------------------------------------------------------------
# Damage of one shot: the compiled path's own (combat.compiled.shot), which the numpy path applies
# element-wise.


def _apply_shot(
    damage: float, shield: float, hull: float, full_shield: float, full_hull: float, u: float
) -> tuple[float, float, bool]:
    """One shot of ``damage`` on a unit: returns ``(shield, hull, destroyed)`` after it.

    ``u`` is the uniform number in [0, 1) that decides a possible explosion. Below 1% of the full
    shield a shot bounces; up to the shield's current value the shield takes it, in whole steps of
    1% of the full shield; beyond, the shield drops to 0 and the hull takes the rest.
    """
    from combat.compiled import shot  # numba, loaded only where battles are fought

    return shot(damage, shield, hull, full_shield, full_hull, u, EXPLOSION_HULL_FRACTION)


# --------------------------------------------------------------------------------------------------
# numpy path (large battles).


class _Units:
    """Per-unit arrays of one side in the numpy path."""

    __slots__ = ("alive", "attack", "full_hull", "full_shield", "hull", "shield", "stats", "types")

    def __init__(self, counts: list[int], stats: _Stats) -> None:
        self.stats = (
            np.array(stats.attack, dtype=np.float64),
            np.array(stats.shield, dtype=np.float64),
            np.array(stats.hull, dtype=np.float64),
        )
        self.types = np.repeat(np.arange(_N_TYPES, dtype=np.intp), counts)
        self.hull = self.stats[2][self.types]
        self._refresh()

    def _refresh(self) -> None:
        self.attack = self.stats[0][self.types]
        self.full_shield = self.stats[1][self.types]
        self.full_hull = self.stats[2][self.types]
        self.shield = self.full_shield.copy()
        self.alive = np.ones(self.types.size, dtype=bool)

    def end_round(self) -> None:
        if not self.alive.all():
            self.types = self.types[self.alive]
            self.hull = self.hull[self.alive]
        self._refresh()

    def counts(self) -> list[int]:
        return np.bincount(self.types, minlength=_N_TYPES).tolist()


def _fight_numpy(
    gen: np.random.Generator, a_counts: list[int], d_counts: list[int], a_stats: _Stats, d_stats: _Stats
) -> tuple[list[_RoundCounts], list[int], list[int]]:
    a, d = _Units(a_counts, a_stats), _Units(d_counts, d_stats)
    rounds: list[_RoundCounts] = []
    for _ in range(MAX_ROUNDS):
        _volley_numpy(gen, a, d)
        _volley_numpy(gen, d, a)
        a.end_round()
        d.end_round()
        rounds.append((a.counts(), d.counts()))
        if a.types.size == 0 or d.types.size == 0:
            break
    final = rounds[-1]
    return rounds, list(final[0]), list(final[1])


def _volley_numpy(gen: np.random.Generator, shooter: _Units, target: _Units) -> None:
    """Vectorised twin of the compiled volley (same draws, same arithmetic, same result)."""
    shooters = np.flatnonzero(shooter.attack > 0)
    if shooters.size == 0:
        return
    src, dst = _shots_numpy(gen, shooters, shooter.types, target.types)
    uniforms = gen.random(src.size)
    damage = shooter.attack[src]
    hits = 100.0 * damage >= target.full_shield[dst]  # bounced shots do nothing: drop them
    if not hits.all():
        dst, damage, uniforms = dst[hits], damage[hits], uniforms[hits]
    if dst.size:
        _apply_by_rank(target, *_by_rank(dst, damage, uniforms))


def _shots_numpy(
    gen: np.random.Generator, shooters: np.ndarray, s_types: np.ndarray, t_types: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Every shot of the volley as (shooter, target), in shooter order, each rapid-fire chain in order.

    Drawn in waves of rapid fire: targets do not depend on damage, so they can all be drawn first.
    """
    wave_shooters: list[np.ndarray] = []
    wave_targets: list[np.ndarray] = []
    current = shooters
    while current.size:
        picks = gen.integers(0, t_types.size, size=current.size)
        wave_shooters.append(current)
        wave_targets.append(picks)
        probs = _RF_PROB_NP[s_types[current], t_types[picks]]
        eligible = probs > 0.0
        k = int(np.count_nonzero(eligible))
        if k == 0:
            break
        again = np.zeros(current.size, dtype=bool)
        again[eligible] = gen.random(k) < probs[eligible]
        current = current[again]
    if len(wave_shooters) == 1:
        return wave_shooters[0], wave_targets[0]
    src, dst = np.concatenate(wave_shooters), np.concatenate(wave_targets)
    order = np.argsort(src, kind="stable")
    return src[order], dst[order]


def _by_rank(
    dst: np.ndarray, damage: np.ndarray, uniforms: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The shots reordered by rank (k-th shot on its target), keeping the order on each target.

    Returns the reordered target, damage and uniform arrays and the bounds of each rank's slice.
    """
    n = dst.size
    order = np.argsort(dst, kind="stable")
    dst, damage, uniforms = dst[order], damage[order], uniforms[order]
    positions = np.arange(n)
    first = np.empty(n, dtype=bool)
    first[0] = True
    np.not_equal(dst[1:], dst[:-1], out=first[1:])
    rank = positions - np.maximum.accumulate(np.where(first, positions, 0))
    by_rank = np.argsort(rank, kind="stable")
    bounds = np.concatenate(([0], np.cumsum(np.bincount(rank))))
    return dst[by_rank], damage[by_rank], uniforms[by_rank], bounds


def _apply_by_rank(
    target: _Units, dst: np.ndarray, damage: np.ndarray, uniforms: np.ndarray, bounds: np.ndarray
) -> None:
    """Apply the k-th shot on every target at once, k = 0, 1, ... (targets are distinct in a rank)."""
    alive = target.alive
    for k in range(bounds.size - 1):
        lo, hi = bounds[k], bounds[k + 1]
        tk, dk, uk = dst[lo:hi], damage[lo:hi], uniforms[lo:hi]
        live = alive[tk]
        if not live.all():
            tk, dk, uk = tk[live], dk[live], uk[live]
            if tk.size == 0:
                break  # every target still being shot at is already destroyed
        _apply_shots(target, tk, dk, uk)


def _apply_shots(target: _Units, tk: np.ndarray, dk: np.ndarray, uk: np.ndarray) -> None:
    """:func:`_apply_shot` element-wise: one shot on each of the distinct units ``tk``."""
    shield, hull = target.shield[tk], target.hull[tk]
    full_shield, full_hull = target.full_shield[tk], target.full_hull[tk]
    absorbed = dk <= shield
    new_shield = np.zeros(tk.size, dtype=np.float64)
    if absorbed.any():
        fs = full_shield[absorbed]
        new_shield[absorbed] = shield[absorbed] - np.floor(100.0 * dk[absorbed] / fs) * fs / 100.0
    new_hull = np.where(absorbed, hull, hull - (dk - shield))
    destroyed = (new_hull <= 0) | (
        (new_shield == 0)
        & (new_hull <= EXPLOSION_HULL_FRACTION * full_hull)
        & (uk < 1.0 - new_hull / full_hull)
    )
    target.shield[tk] = new_shield
    target.hull[tk] = new_hull
    target.alive[tk[destroyed]] = False
