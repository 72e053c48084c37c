"""The grouped mode of the battle engine (combat.grouped): exact where it can be, faithful elsewhere."""

from __future__ import annotations

import math
import statistics
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.combat_faithful import MAKEUPS, compare
from combat import grouped
from combat.engine import (
    GROUPED_BATTLE_UNITS,
    MAX_UNITS,
    SMALL_BATTLE_UNITS,
    Side,
    _apply_shot,
    _resolve,
    path_for,
    resolve_battle,
)
from tests.combat.test_engine import sides


def group(shield: list[float], hull: list[float]) -> grouped._Group:
    return grouped._Group(np.array(shield), np.array(hull), np.ones(len(hull), dtype=np.int64))


# --- the rules it keeps exactly -----------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    damage=st.sampled_from([5.0, 6.0, 50.0, 55.0, 80.0, 150.0, 400.0, 1000.0, 1300.0]),
    full_shield=st.sampled_from([0.0, 10.0, 12.0, 25.0, 100.0, 200.0, 520.0, 600.0]),
    full_hull=st.sampled_from([100.0, 400.0, 440.0, 1000.0, 2700.0, 6000.0]),
    damaged=st.floats(0.05, 1.0),
    hits=st.integers(1, 40),
)
def test_k_hits_on_a_group_are_k_shots_of_the_exact_engine(
    damage: float, full_shield: float, full_hull: float, damaged: float, hits: int
) -> None:
    # Same float operations as _apply_shot (1% shield steps, hull damage), and the survival odds
    # are the product of the exact engine's explosion odds, shot after shot.
    if 100.0 * damage < full_shield:
        return  # bounces: the grouped mode skips those shots, as the exact engine ignores them
    hull = full_hull * damaged
    shield, hulls, survive = grouped._trajectory(
        group([full_shield], [hull]), damage, full_shield, full_hull, hits
    )
    s, h, odds = full_shield, hull, 1.0
    for k in range(1, shield.shape[1]):
        s, h, _ = _apply_shot(damage, s, h, full_shield, full_hull, 0.0)
        explodes = h <= 0 or (s == 0 and h <= 0.7 * full_hull)
        odds *= 0.0 if h <= 0 else (h / full_hull if explodes else 1.0)
        assert (shield[0, k], hulls[0, k]) == (s, h)
        assert survive[0, k] == pytest.approx(odds, rel=1e-12, abs=0)
    # it stops early only when every unit is certainly destroyed
    assert shield.shape[1] == hits + 1 or h <= 0


def test_hits_beyond_the_counted_ones_match_shot_by_shot() -> None:
    full_shield, full_hull, damage = 200.0, 60_000.0, 5.0
    start = grouped._trajectory(group([full_shield], [full_hull]), damage, full_shield, full_hull, 130)
    # explosion checks begin once the hull is down to 42,000 (after about 3,600 shots)
    for extra in (1, 500, 3400, 3500, 3600, 3700, 4000):
        long = grouped._trajectory(
            group([full_shield], [full_hull]), damage, full_shield, full_hull, 130 + extra
        )
        hull, survive = grouped._more_hits(
            start[0][:, -1], start[1][:, -1], start[2][:, -1], extra, damage, full_hull
        )
        assert long[1].shape[1] == 131 + extra  # not cut short: the odds are still above 0
        assert hull[0] == pytest.approx(long[1][0, -1], rel=1e-9)
        assert survive[0] == pytest.approx(long[2][0, -1], rel=1e-6, abs=1e-300)


def test_hit_distribution_is_binomial_with_its_tail_in_the_last_entry() -> None:
    for shots, n in ((10, 1000), (5000, 1000), (10**13, 10**12), (10**6, 10**12)):
        pmf, beyond = grouped._hits_pmf(shots, n, 4096)
        assert math.fsum(pmf) == pytest.approx(1.0, abs=1e-12)
        mean = math.fsum(k * p for k, p in enumerate(pmf))
        assert mean == pytest.approx(shots / n, rel=1e-6, abs=1e-9)
        assert beyond == 0
    # a lone unit takes every shot; counted up to the limit, the rest beyond it
    assert grouped._hits_pmf(7, 1, 4096) == ([0.0] * 7 + [1.0], 0)
    pmf, beyond = grouped._hits_pmf(10**12, 1, 200)
    assert pmf[-1] == 1.0 and len(pmf) == 201 and beyond == 10**12 - 200
    # many more shots than units: the last entry holds (nearly) everything, with the mean beyond it
    pmf, beyond = grouped._hits_pmf(10**12, 10**6, 4096)
    assert pmf[-1] == pytest.approx(1.0) and beyond == pytest.approx(10**6 - 4096, rel=1e-6)


def test_shots_below_one_percent_of_the_shield_bounce() -> None:
    # small cargo (5) against heavy lasers with shields of 600: nothing ever happens to them
    for seed in range(3):
        r = _resolve(
            Side({"small_cargo": 10**9}),
            Side({}, {"heavy_laser": 10**6}, shielding=50),
            seed=seed,
            path="grouped",
        )
        assert r.defender_defences == {"heavy_laser": 10**6} and r.rebuilt == {}
        assert r.outcome == "draw" and r.rounds == 6


def test_rapid_fire_chains_at_a_billion_units() -> None:
    # Against probes only, every battleship shot destroys a probe and chains with probability 4/5:
    # 5 shots per battleship on average. A probe hit twice dies once, so with S shots on n probes
    # round 1 destroys n * (1 - (1 - 1/n) ** S) of them.
    def destroyed(shots: float, n: int) -> float:
        return n * -math.expm1(shots * math.log1p(-1 / n))

    r = _resolve(Side({"battleship": 10**8}), Side({"espionage_probe": 10**10}), seed=1, path="grouped")
    killed = 10**10 - r.round_log[0]["defender"]["espionage_probe"]
    assert killed == pytest.approx(destroyed(5 * 10**8, 10**10), rel=1e-3)
    # cruisers through rocket launchers: rapid fire 10, chains of 10 shots; a shot (400) on a
    # launcher (shield 20, hull 200) always destroys it
    r = _resolve(Side({"cruiser": 10**8}), Side({}, {"rocket_launcher": 10**11}), seed=1, path="grouped")
    killed = 10**11 - r.round_log[0]["defender"]["rocket_launcher"]
    assert killed == pytest.approx(destroyed(10 * 10**8, 10**11), rel=1e-3)


# --- results: the same contract as the exact paths ------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    attacker=sides(defences=False, max_count=10**6),
    defender=sides(defences=True, max_count=10**6),
    seed=st.integers(0, 2**64 - 1),
)
def test_counts_add_up_and_never_grow(attacker: Side, defender: Side, seed: int) -> None:
    r = _resolve(attacker, defender, seed=seed, path="grouped")
    brought = {
        "attacker": {k: v for k, v in attacker.ships.items() if v},
        "defender": {k: v for k, v in {**defender.ships, **defender.defences}.items() if v},
    }
    assert 0 <= r.rounds <= 6 and len(r.round_log) == r.rounds
    for name, n in brought["attacker"].items():
        assert r.attacker_survivors.get(name, 0) + r.attacker_losses.get(name, 0) == n
    for name, n in brought["defender"].items():
        left = r.defender_ships.get(name, 0) + r.defender_defences.get(name, 0)
        assert left + r.defender_losses.get(name, 0) == n
    previous = brought
    for entry in r.round_log:  # every type a side brought, never more than the round before
        for side in ("attacker", "defender"):
            assert set(entry[side]) == set(brought[side])
            assert all(0 <= n <= previous[side][name] for name, n in entry[side].items())
        previous = entry
    assert r == _resolve(attacker, defender, seed=seed, path="grouped")  # a seed replays it


def test_the_engine_takes_the_grouped_mode_above_its_threshold() -> None:
    assert path_for(SMALL_BATTLE_UNITS) == "compiled"
    assert path_for(GROUPED_BATTLE_UNITS) == "numpy"
    assert path_for(GROUPED_BATTLE_UNITS + 1) == "grouped"
    a, d = MAKEUPS["mixed"](GROUPED_BATTLE_UNITS)  # well above: 2 x the threshold
    assert resolve_battle(a, d, seed=4) == _resolve(a, d, seed=4, path="grouped")


def test_more_units_than_int64_can_count_are_refused() -> None:
    with pytest.raises(ValueError, match="at most"):
        Side({"cruiser": MAX_UNITS + 1})
    Side({"cruiser": MAX_UNITS})


def test_a_trillion_units_a_side_in_bounded_memory() -> None:
    a, d = MAKEUPS["mixed"](10**12)
    tracemalloc.start()
    try:
        r = resolve_battle(a, d, seed=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert r.rounds == 6 and sum(r.attacker_survivors.values()) > 10**11
    assert peak < 100 * 2**20


# --- faithful to the exact engine -----------------------------------------------------------------

# Rapid-fire chains of every kind, bouncing shots and 1% shield steps, defences rebuilt.
FAITHFUL_MAKEUPS = ("mixed", "probe_screens", "bouncing_shots")
SEEDS = 50
UNITS = 100_000


@pytest.mark.slow
@pytest.mark.parametrize("name", FAITHFUL_MAKEUPS)
def test_grouped_mode_agrees_with_the_exact_engine(name: str) -> None:
    row = compare(name, UNITS, SEEDS)
    assert row["outcome_agreement"] >= 0.95
    compared = [t for t in row["types"] if t["compared"]]
    # not vacuous: several types keep a good share of their units, and the battle costs something
    assert len(compared) >= 3
    assert any(t["exact"] < 0.9 * t["brought"] for t in compared)
    for t in compared:
        assert abs(t["difference"]) <= 0.02, t
    for t in row["types"]:  # every type, compared or too noisy to be: within 4 standard errors
        assert (t["z"] is None and t["grouped"] == t["exact"]) or abs(t["z"]) <= 4, t
    assert statistics.mean(abs(t["difference"]) for t in compared) < 0.01


def test_groups_beyond_the_bound_go_on_the_finest_grid_that_fits() -> None:
    rng = np.random.default_rng(0)
    hull = rng.uniform(1.0, 6000.0, size=3 * grouped.MAX_STATES)
    shield = rng.choice([0.0, 5.2, 520.0], size=hull.size)
    count = rng.integers(1, 10**9, size=hull.size)
    bounded = grouped._bounded(grouped._merge(shield, hull, count), 6000.0)
    assert bounded.hull.size <= grouped.MAX_STATES
    assert bounded.total() == int(count.sum())  # no unit gained or lost
    assert (bounded.hull > 0).all() and set(bounded.shield) <= {0.0, 5.2, 520.0}
    # few enough groups are left alone
    few = grouped._merge(shield[:100], hull[:100], count[:100])
    assert grouped._bounded(few, 6000.0) is few
