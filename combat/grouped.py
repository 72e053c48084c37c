"""The grouped mode of the battle engine: battles of any size in memory that does not grow with them.

The exact paths of :mod:`combat.engine` hold every unit (about 150 bytes each). Here a side holds,
per unit type, the distinct hull values its units have and how many units have each: units of a
type are identical until they are hit, and hits only ever make a handful of hull values. The same
rules apply (RULES.md, "Combat", as read in :mod:`combat.engine`), drawn per group instead of per
unit:

* Shots of a volley, rapid fire included: for every shooter type, its ``c`` shots are spread over
  the enemy types by one multinomial draw (each shot picks a uniformly random enemy unit alive at
  the start of the round); the shots at type ``T`` give ``Binomial(shots at T, 1 - 1/RF)`` further
  shots, spread again, wave after wave until no shot is left. This is exactly the distribution of
  the shots per (shooter type, target type) of the exact engine.
* Hits: a target type with ``n`` units takes the shooter types' shots in catalogue order (the
  shooter order of the exact engine). For one shooter type, each unit takes ``k`` of its ``S``
  shots with probability ``Binomial(S, 1/n)(k)``, as in the exact engine; the units of every
  (shield, hull) group are split by one multinomial draw over ``k``. **This is the approximation**:
  the units take their hits independently of each other, whereas the exact counts of units hit
  0, 1, 2, ... times are those of ``S`` balls thrown into ``n`` bins, whose hits add up to exactly
  ``S``. Each unit's own chances are the same; the spread of the totals differs by about ``1/n``
  (the grouped mode runs from 200,000 units).
* Damage: ``k`` shots of one damage value on a (shield, hull) group give one deterministic new
  (shield, hull), computed with the exact engine's float arithmetic (1% shield steps, bounces,
  hull damage); a unit survives the explosion checks of those ``k`` shots with the product of
  their ``hull / full hull`` odds, so the survivors of a split are one binomial draw.
* End of round: shields are restored, groups of equal hull merge, destroyed units leave.

Bounds (what keeps memory and time independent of the number of units):

* A unit's hits from one shooter type are counted one by one until the hit distribution's tail
  is below ``HIT_TAIL`` (the tail joins the last count) or every unit is certainly destroyed, and
  at most up to ``MAX_HITS`` (fewer if the type has many groups: ``TRAJECTORY_CELLS`` bounds
  groups x hit counts, never below ``MIN_HITS``). Units that take more (only very high armour
  against very weak shots gets there) take the mean of that tail, in closed form (``_more_hits``).
* At most ``MAX_STATES`` groups per type are kept: if hits make more, hulls are rounded to a grid
  of ``1 / HULL_GRID`` of the full hull, coarser by halves until the groups fit (``_bounded``).
* Counts are int64: at most ``combat.engine.MAX_UNITS`` units per type and side.

One ``numpy.random.Generator`` per battle as in the exact engine, so a seed replays a battle; the
draws differ from the exact paths', so the same seed gives a different (equally likely) battle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from combat.engine import _N_TYPES, _RF_PROB_NP, EXPLOSION_HULL_FRACTION, MAX_ROUNDS, _RoundCounts, _Stats

__all__ = ["fight_grouped"]

MAX_HITS = 4096
MIN_HITS = 128  # > 101: a shield loses at least 1% a shot, so it is down after this many
TRAJECTORY_CELLS = 1 << 20  # groups x hit counts of one trajectory: about 8 MB per array
HIT_TAIL = 1e-13
MAX_STATES = 4096
HULL_GRID = 2048


@dataclass(slots=True)
class _Group:
    """Units of one type in one battle state: ``count[i]`` units have ``shield[i]`` and ``hull[i]``."""

    shield: np.ndarray
    hull: np.ndarray
    count: np.ndarray

    @classmethod
    def intact(cls, shield: float, hull: float, n: int) -> _Group:
        """``n`` undamaged units (no group at all if ``n`` is 0)."""
        size = 1 if n else 0
        return cls(np.full(size, shield), np.full(size, hull), np.full(size, n, dtype=np.int64))

    def total(self) -> int:
        return int(self.count.sum())


class _Army:
    """One side: per type, its combat values and its units grouped by hull (shields full)."""

    def __init__(self, counts: list[int], stats: _Stats) -> None:
        self.attack = np.array(stats.attack, dtype=np.float64)
        self.full_shield = np.array(stats.shield, dtype=np.float64)
        self.full_hull = np.array(stats.hull, dtype=np.float64)
        self.groups = [_Group.intact(self.full_shield[t], self.full_hull[t], n) for t, n in enumerate(counts)]

    def counts(self) -> list[int]:
        return [group.total() for group in self.groups]


def fight_grouped(
    gen: np.random.Generator, a_counts: list[int], d_counts: list[int], a_stats: _Stats, d_stats: _Stats
) -> tuple[list[_RoundCounts], list[int], list[int]]:
    """The rounds of a battle in grouped mode (same contract as the exact engine's fight paths)."""
    a, d = _Army(a_counts, a_stats), _Army(d_counts, d_stats)
    rounds: list[_RoundCounts] = []
    for _ in range(MAX_ROUNDS):
        # Both volleys see the round's starting forces: units destroyed in a round still fire in it.
        d_groups = _volley(gen, a, d)
        a.groups = _volley(gen, d, a)
        d.groups = d_groups
        rounds.append((a.counts(), d.counts()))
        if not any(rounds[-1][0]) or not any(rounds[-1][1]):
            break
    final = rounds[-1]
    return rounds, list(final[0]), list(final[1])


def _volley(gen: np.random.Generator, shooter: _Army, target: _Army) -> list[_Group]:
    """Every armed unit of ``shooter`` fires at ``target``: the target's groups after the volley."""
    n_targets = np.array(target.counts(), dtype=np.int64)
    shots = _shots(gen, shooter, n_targets)
    groups = []
    for t, group in enumerate(target.groups):
        for s in np.flatnonzero(shots[:, t]):  # shooter types in catalogue order
            if group.count.size == 0:
                break
            group = _take_hits(gen, group, int(shots[s, t]), int(n_targets[t]), shooter.attack[s], target, t)
        groups.append(_end_of_volley(group, target.full_shield[t], target.full_hull[t]))
    return groups


def _shots(gen: np.random.Generator, shooter: _Army, n_targets: np.ndarray) -> np.ndarray:
    """``shots[s, t]``: how many shots the units of type ``s`` fire at type ``t`` this volley."""
    shots = np.zeros((_N_TYPES, _N_TYPES), dtype=np.int64)
    current = np.where(shooter.attack > 0, np.array(shooter.counts(), dtype=np.int64), 0)
    share = n_targets / n_targets.sum()
    while current.any():  # one wave of rapid fire at a time; each wave is 1 - 1/RF of the last
        wave = gen.multinomial(current, share)
        shots += wave
        current = gen.binomial(wave, _RF_PROB_NP).sum(axis=1)
    return shots


def _take_hits(
    gen: np.random.Generator, group: _Group, shots: int, n: int, damage: float, target: _Army, t: int
) -> _Group:
    """``shots`` shots of ``damage`` spread uniformly over the ``n`` units of type ``t``."""
    full_shield, full_hull = target.full_shield[t], target.full_hull[t]
    if 100.0 * damage < full_shield:  # below 1% of the full shield: every shot bounces
        return group
    pmf, beyond = _hits_pmf(shots, n, min(MAX_HITS, max(MIN_HITS, TRAJECTORY_CELLS // group.hull.size)))
    shield, hull, survive = _trajectory(group, damage, full_shield, full_hull, len(pmf) - 1)
    if beyond and shield.shape[1] == len(pmf):  # the last column stands for more hits than it holds
        hull[:, -1], survive[:, -1] = _more_hits(
            shield[:, -1], hull[:, -1], survive[:, -1], beyond, damage, full_hull
        )
    # Hit counts the trajectory stopped short of (every unit already destroyed) join its last column.
    below = pmf[: shield.shape[1] - 1]
    pvals = np.array([*below, max(0.0, 1.0 - math.fsum(below))])
    split = gen.multinomial(group.count, pvals)
    alive = gen.binomial(split, survive)
    keep = alive > 0
    return _bounded(_merge(shield[keep], hull[keep], alive[keep]), full_hull)


def _hits_pmf(shots: int, n: int, limit: int) -> tuple[list[float], int]:
    """``pmf[k]``: probability that a unit takes exactly ``k`` of ``shots`` uniform shots at ``n``
    units; the last entry is the probability of taking at least that many. Also returns how many
    hits beyond the last count a unit in the last entry takes on average, if ``limit`` cut it short
    (0 otherwise)."""
    if n == 1:
        return [0.0] * min(shots, limit) + [1.0], max(0, shots - limit)
    p = 1.0 / n
    log_pk = shots * math.log1p(-p)  # log P(k = 0), kept in logs so a huge mean cannot underflow
    log_odds = math.log(p) - math.log1p(-p)
    pmf, rest, below_mean = [], 1.0, 0.0
    for k in range(min(shots, limit)):
        pk = math.exp(log_pk)
        pmf.append(pk)
        rest -= pk
        below_mean += k * pk
        if rest <= HIT_TAIL:
            return [*pmf, max(rest, 0.0)], 0
        log_pk += math.log((shots - k) / (k + 1)) + log_odds
    pmf.append(max(rest, 0.0))
    if shots <= limit:
        return pmf, 0
    tail_mean = (shots * p - below_mean) / rest  # E[k | k >= limit]
    return pmf, max(0, round(tail_mean) - limit)


def _more_hits(
    shield: np.ndarray, hull: np.ndarray, survive: np.ndarray, hits: int, damage: float, full_hull: float
) -> tuple[np.ndarray, np.ndarray]:
    """Hull and survival odds after ``hits`` more shots of ``damage``, in closed form.

    Only called after at least ``MIN_HITS`` shots: a shield loses at least 1% a shot, so it is down
    and every further shot takes ``damage`` off the hull, with an explosion check once the hull is at
    or below 70%: the odds multiply by ``(hull - i * damage) / full hull`` for those shots.
    """
    new_hull = hull - hits * damage
    odds = np.zeros(hull.size)
    for i in np.flatnonzero((new_hull > 0) & (shield == 0)):
        x = hull[i] / damage
        first = max(1, math.ceil((hull[i] - EXPLOSION_HULL_FRACTION * full_hull) / damage))
        checks = hits - first + 1  # shots with an explosion check
        log_odds = checks * math.log(damage / full_hull) + math.lgamma(x - first + 1) - math.lgamma(x - hits)
        odds[i] = math.exp(log_odds) if checks > 0 else 1.0
    return np.where(shield == 0, new_hull, hull), np.where(shield == 0, survive * odds, survive)


def _trajectory(
    group: _Group, damage: float, full_shield: float, full_hull: float, max_hits: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shield, hull and survival odds of every group after ``k`` shots, ``k = 0 .. K`` (columns).

    Stops early once every unit is certainly destroyed: more hits change nothing.
    """
    # The shield loss of an absorbed shot, as the exact engine computes it (same float operations).
    drop = math.floor(100.0 * damage / full_shield) * full_shield / 100.0 if full_shield > 0 else 0.0
    shields, hulls, survives = [group.shield], [group.hull], [np.ones(group.hull.size)]
    for _ in range(max_hits):
        shield, hull = shields[-1], hulls[-1]
        absorbed = damage <= shield
        shield, hull = (
            np.where(absorbed, shield - drop, 0.0),
            np.where(absorbed, hull, hull - (damage - shield)),
        )
        can_explode = (shield == 0) & (hull <= EXPLOSION_HULL_FRACTION * full_hull)
        odds = np.where(hull <= 0, 0.0, np.where(can_explode, hull / full_hull, 1.0))
        shields.append(shield)
        hulls.append(hull)
        survives.append(survives[-1] * odds)
        if not survives[-1].any():
            break
    return np.stack(shields, axis=1), np.stack(hulls, axis=1), np.stack(survives, axis=1)


def _merge(shield: np.ndarray, hull: np.ndarray, count: np.ndarray) -> _Group:
    """One group per distinct (shield, hull), counts added up."""
    if hull.size == 0:
        return _Group(shield, hull, count.astype(np.int64))
    order = np.lexsort((hull, shield))
    shield, hull, count = shield[order], hull[order], count[order]
    starts = np.flatnonzero(np.concatenate(([True], (shield[1:] != shield[:-1]) | (hull[1:] != hull[:-1]))))
    return _Group(shield[starts], hull[starts], np.add.reduceat(count, starts))


def _end_of_volley(group: _Group, full_shield: float, full_hull: float) -> _Group:
    """Shields restored (they are full again at the next round), so groups only differ by hull."""
    return _bounded(_merge(np.full(group.hull.size, full_shield), group.hull, group.count), full_hull)


def _bounded(group: _Group, full_hull: float) -> _Group:
    """At most ``MAX_STATES`` groups: past that, hulls go on a grid, the finest that is enough.

    Hits of mixed damage (shields absorbing in 1% steps, then the rest) can make ever more distinct
    hull values; the grid keeps a type's groups, and so memory and time, bounded.
    """
    cells = HULL_GRID
    while group.hull.size > MAX_STATES and cells >= 1:
        grid = full_hull / cells
        rounded = np.round(group.hull / grid) * grid
        # a hull rounded to 0 would count as destroyed: those units keep their own hull
        group = _merge(group.shield, np.where(rounded > 0, rounded, group.hull), group.count)
        cells //= 2
    return group
