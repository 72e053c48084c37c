from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from combat.loot import cargo_room, loot

amount_st = st.integers(0, 10**12)


def test_room_larger_than_everything_takes_exactly_the_halves() -> None:
    # halves (rounded down): 500, 250, 50
    assert loot(10**9, 1001, 501, 101) == {"metal": 500, "crystal": 250, "deuterium": 50}


def test_room_zero_takes_nothing() -> None:
    assert loot(0, 10**6, 10**6, 10**6) == {"metal": 0, "crystal": 0, "deuterium": 0}


def test_empty_target_gives_nothing() -> None:
    assert loot(50_000, 0, 0, 0) == {"metal": 0, "crystal": 0, "deuterium": 0}
    # a stock of 1 halves to 0
    assert loot(50_000, 1, 1, 1) == {"metal": 0, "crystal": 0, "deuterium": 0}


def test_metal_scarce_crystal_fills_the_room() -> None:
    # room 3000, halves M=100, C=5000, D=0
    # metal = min(1000, 100) = 100, rest 2900; crystal = min(1450, 5000) = 1450, rest 1450
    # deuterium = min(1450, 0) = 0; metal += min(725, 0) = 0; crystal += min(1450, 3550) = 1450
    assert loot(3000, 200, 10_000, 0) == {"metal": 100, "crystal": 2900, "deuterium": 0}


def test_metal_scarce_deuterium_takes_the_rest() -> None:
    # room 3000, halves M=100, C=5000, D=5000
    # metal 100, rest 2900; crystal 1450, rest 1450; deuterium 1450, rest 0; nothing more
    assert loot(3000, 200, 10_000, 10_000) == {"metal": 100, "crystal": 1450, "deuterium": 1450}


def test_plenty_of_everything_splits_by_thirds_then_halves() -> None:
    # room 9000, halves all 10^6: metal 3000, rest 6000; crystal 3000, rest 3000; deuterium 3000
    assert loot(9000, 2 * 10**6, 2 * 10**6, 2 * 10**6) == {
        "metal": 3000,
        "crystal": 3000,
        "deuterium": 3000,
    }


def test_rounding_down_at_each_step() -> None:
    # room 10, halves 50 each: metal = 10//3 = 3, rest 7; crystal = 7//2 = 3, rest 4; deuterium 4
    assert loot(10, 100, 100, 100) == {"metal": 3, "crystal": 3, "deuterium": 4}
    # room 7, halves M=3, C=4, D=0: metal 7//3 = 2, rest 5; crystal 5//2 = 2, rest 3; deuterium 0;
    # metal += min(3//2, 3-2) = 1 -> 3, rest 2; crystal += min(2, 4-2) = 2 -> 4
    assert loot(7, 7, 9, 1) == {"metal": 3, "crystal": 4, "deuterium": 0}


def test_deuterium_scarce_second_pass_metal_then_crystal() -> None:
    # room 1200, halves M=1000, C=1000, D=0
    # metal 400, rest 800; crystal 400, rest 400; deuterium 0; metal += min(200, 600) = 200 -> 600,
    # rest 200; crystal += min(200, 600) = 200 -> 600
    assert loot(1200, 2000, 2000, 0) == {"metal": 600, "crystal": 600, "deuterium": 0}


@pytest.mark.parametrize(
    ("room", "metal", "crystal", "deuterium"), [(-1, 0, 0, 0), (0, -1, 0, 0), (0, 0, -1, 0), (0, 0, 0, -1)]
)
def test_loot_rejects_negative(room: int, metal: int, crystal: int, deuterium: int) -> None:
    with pytest.raises(ValueError):
        loot(room, metal, crystal, deuterium)


@given(amount_st, amount_st, amount_st, amount_st)
def test_loot_properties(room: int, metal: int, crystal: int, deuterium: int) -> None:
    taken = loot(room, metal, crystal, deuterium)
    assert set(taken) == {"metal", "crystal", "deuterium"}
    assert all(isinstance(v, int) and v >= 0 for v in taken.values())
    assert sum(taken.values()) <= room
    assert taken["metal"] <= metal // 2
    assert taken["crystal"] <= crystal // 2
    assert taken["deuterium"] <= deuterium // 2
    halves = metal // 2 + crystal // 2 + deuterium // 2
    if room >= 3 * halves:
        # enough room for everything on offer: exactly the halves
        assert taken == {"metal": metal // 2, "crystal": crystal // 2, "deuterium": deuterium // 2}


@given(amount_st, amount_st, amount_st, st.integers(0, 10**6))
def test_loot_monotone_in_room(metal: int, crystal: int, deuterium: int, room: int) -> None:
    assert sum(loot(room, metal, crystal, deuterium).values()) <= sum(
        loot(room + 1, metal, crystal, deuterium).values()
    )


def test_cargo_room() -> None:
    assert cargo_room(35200, {}) == 35200
    assert cargo_room(35200, {"metal": 10_000, "crystal": 5000, "deuterium": 200}) == 20_000
    assert cargo_room(1000, {"metal": 1000}) == 0
    assert cargo_room(1000, {"metal": 900, "crystal": 900}) == 0  # never negative
    assert cargo_room(0, {}) == 0


@pytest.mark.parametrize(("capacity", "carried"), [(-1, {}), (100, {"metal": -1})])
def test_cargo_room_rejects_negative(capacity: int, carried: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        cargo_room(capacity, carried)


@given(amount_st, st.dictionaries(st.sampled_from(["metal", "crystal", "deuterium"]), amount_st))
def test_cargo_room_properties(capacity: int, carried: dict[str, int]) -> None:
    room = cargo_room(capacity, carried)
    assert 0 <= room <= capacity
    assert room == max(0, capacity - sum(carried.values()))
