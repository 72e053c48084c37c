from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from probes.espionage import SECTIONS, accuracy, discovery_chance, is_discovered, sections_revealed

ALL = ["resources", "ships", "defences", "technology"]
probes_st = st.integers(1, 1000)
level_st = st.integers(0, 30)


@pytest.mark.parametrize(
    ("probes", "att", "dfn", "expected"),
    [
        (1, 0, 0, ["resources"]),  # S = 1
        (2, 0, 0, ["resources", "ships"]),  # S = 2
        (3, 0, 0, ["resources", "ships", "defences"]),  # S = 3
        (6, 4, 4, ["resources", "ships", "defences"]),  # S = 6
        (7, 0, 0, ALL),  # S = 7
        (3, 2, 0, ALL),  # delta 2: S = 3 + 2*2 = 7
        (2, 2, 0, ["resources", "ships", "defences"]),  # S = 2 + 4 = 6
        (1, 1, 0, ["resources", "ships"]),  # S = 1 + 1 = 2
        (1, 3, 0, ALL),  # S = 1 + 9 = 10
        (3, 0, 1, ["resources", "ships"]),  # delta -1: S = 3 - 1 = 2
        (10, 0, 2, ["resources", "ships", "defences"]),  # S = 10 - 4 = 6
        (10, 0, 3, ["resources"]),  # S = 10 - 9 = 1
        (5, 0, 5, ["resources"]),  # S = 5 - 25 = -20: resources all the same
    ],
)
def test_sections_revealed_hand_values(probes: int, att: int, dfn: int, expected: list[str]) -> None:
    assert sections_revealed(probes, att, dfn) == expected


def test_accuracy_hand_values() -> None:
    assert accuracy(sections_revealed(1, 0, 0)) == 0.25
    assert accuracy(sections_revealed(2, 0, 0)) == 0.5
    assert accuracy(sections_revealed(3, 0, 0)) == 0.75
    assert accuracy(sections_revealed(3, 2, 0)) == 1.0
    assert accuracy(ALL) == 1.0


def test_accuracy_rejects_unknown_section() -> None:
    with pytest.raises(ValueError):
        accuracy(["resources", "buildings"])


@pytest.mark.parametrize(("probes", "att", "dfn"), [(0, 0, 0), (-1, 0, 0), (1, -1, 0), (1, 0, -1)])
def test_bad_arguments(probes: int, att: int, dfn: int) -> None:
    with pytest.raises(ValueError):
        sections_revealed(probes, att, dfn)
    with pytest.raises(ValueError):
        discovery_chance(probes, 1, att, dfn)


@given(probes_st, level_st, level_st)
def test_sections_properties(probes: int, att: int, dfn: int) -> None:
    sections = sections_revealed(probes, att, dfn)
    assert sections[0] == "resources"
    # always a prefix of the fixed order: a section implies all the cheaper ones
    assert sections == list(SECTIONS[: len(sections)])
    assert accuracy(sections) == len(sections) / 4
    # more probes, or a better attacker, never reveal less
    assert len(sections_revealed(probes + 1, att, dfn)) >= len(sections)
    assert len(sections_revealed(probes, att + 1, dfn)) >= len(sections)


@pytest.mark.parametrize(
    ("probes", "ships", "att", "dfn", "expected"),
    [
        (1, 10, 0, 0, 100),  # floor(100*10*1/4) = 250 -> clamped to 100
        (5, 1, 0, 0, 5),  # floor(100*1*1/20) = 5
        (3, 1, 0, 0, 8),  # floor(100/12) = floor(8.33) = 8
        (1, 1, 0, 0, 25),  # floor(100/4) = 25
        (4, 2, 0, 1, 25),  # floor(100*2*2/16) = floor(25) = 25
        (7, 2, 3, 5, 21),  # floor(100*2*3/28) = floor(21.43) = 21
        (1, 0, 0, 5, 0),  # no ships
        (1, 10, 1, 0, 0),  # def - att + 1 = 0
        (1, 10, 5, 0, 0),  # def - att + 1 = -4
        (100, 1, 0, 0, 0),  # floor(100/400) = 0
    ],
)
def test_discovery_chance_hand_values(probes: int, ships: int, att: int, dfn: int, expected: int) -> None:
    assert discovery_chance(probes, ships, att, dfn) == expected


def test_discovery_chance_rejects_negative_ships() -> None:
    with pytest.raises(ValueError):
        discovery_chance(1, -1, 0, 0)


@given(probes_st, st.integers(0, 10**9), level_st, level_st)
def test_discovery_chance_properties(probes: int, ships: int, att: int, dfn: int) -> None:
    chance = discovery_chance(probes, ships, att, dfn)
    assert isinstance(chance, int)
    assert 0 <= chance <= 100
    factor = dfn - att + 1
    if ships == 0 or factor <= 0:
        assert chance == 0
    else:
        assert chance == min(100, 100 * ships * factor // (4 * probes))
    # more probes are never more conspicuous per the formula's denominator
    assert discovery_chance(probes + 1, ships, att, dfn) <= chance


def test_is_discovered_extremes() -> None:
    rng = random.Random(1)
    assert not any(is_discovered(0, rng) for _ in range(1000))
    assert all(is_discovered(100, rng) for _ in range(1000))


@pytest.mark.parametrize("chance", [-1, 101])
def test_is_discovered_rejects_bad_chance(chance: int) -> None:
    with pytest.raises(ValueError):
        is_discovered(chance, random.Random(0))


def test_is_discovered_is_reproducible_with_a_seed() -> None:
    rng_a, rng_b = random.Random(42), random.Random(42)
    draws_a = [is_discovered(50, rng_a) for _ in range(100)]
    draws_b = [is_discovered(50, rng_b) for _ in range(100)]
    assert draws_a == draws_b
    assert 0 < sum(draws_a) < 100


def test_is_discovered_uses_randrange_100() -> None:
    # the draw is rng.randrange(100) < chance: replay the same draws by hand
    expected_rng, rng = random.Random(7), random.Random(7)
    for chance in (1, 30, 50, 99):
        assert is_discovered(chance, rng) == (expected_rng.randrange(100) < chance)


@pytest.mark.parametrize("seed", [0, 1, 2024])
def test_is_discovered_frequency(seed: int) -> None:
    # 20,000 draws at 30%: standard deviation ~0.32 points, so 28-32% is about +-6 sigma
    rng = random.Random(seed)
    hits = sum(is_discovered(30, rng) for _ in range(20_000))
    assert 0.28 <= hits / 20_000 <= 0.32
