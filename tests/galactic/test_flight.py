from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from galactic.flight import (
    Coords,
    cargo_capacity,
    distance,
    fleet_speed,
    flight_seconds,
    fuel_cost,
)
from galactic.ships import SHIPS

coords_st = st.builds(
    Coords,
    galaxy=st.integers(1, 9),
    system=st.integers(1, 499),
    position=st.integers(1, 15),
)
percent_st = st.sampled_from(range(10, 101, 10))
flying = sorted(SHIPS)
fleet_st = st.dictionaries(st.sampled_from(flying), st.integers(0, 10_000), min_size=1).filter(
    lambda fleet: any(count > 0 for count in fleet.values())
)


# --- Coords ---------------------------------------------------------------


def test_parse_and_str_round_trip() -> None:
    coords = Coords.parse("3:142:7")
    assert coords == Coords(3, 142, 7)
    assert str(coords) == "3:142:7"
    assert Coords.parse(" 9:499:15 ") == Coords(9, 499, 15)
    assert str(Coords(1, 1, 1)) == "1:1:1"


@pytest.mark.parametrize(
    "text",
    ["", "1:1", "1:1:1:1", "a:b:c", "1:1:x", "1::1", "-1:1:1", "+1:1:1", "1 :1:1", "1.0:1:1"],
)
def test_parse_rejects_malformed(text: str) -> None:
    with pytest.raises(ValueError, match="g:s:p"):
        Coords.parse(text)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("0:1:1", "galaxy"),
        ("10:1:1", "galaxy"),
        ("1:0:1", "system"),
        ("1:500:1", "system"),
        ("1:1:0", "position"),
        ("1:1:16", "position"),
    ],
)
def test_parse_rejects_out_of_range(text: str, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        Coords.parse(text)


def test_constructor_validates_too() -> None:
    with pytest.raises(ValueError, match="position"):
        Coords(1, 1, 16)


@given(coords_st)
def test_parse_str_round_trip_property(coords: Coords) -> None:
    assert Coords.parse(str(coords)) == coords


# --- distance -------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1:1:1", "1:1:1", 5),  # same place
        ("1:1:1", "1:1:5", 1020),  # 1000 + 5*4
        ("1:1:1", "1:1:2", 1005),  # 1000 + 5*1
        ("1:1:1", "1:3:1", 2890),  # 2700 + 95*2
        ("1:1:15", "1:499:1", 50010),  # 2700 + 95*498 (position ignored)
        ("1:1:1", "3:1:1", 40000),  # 20000*2
        ("9:1:1", "1:499:15", 160000),  # 20000*8
    ],
)
def test_distance_hand_values(a: str, b: str, expected: int) -> None:
    assert distance(Coords.parse(a), Coords.parse(b)) == expected


@given(coords_st, coords_st)
def test_distance_symmetric_and_positive(a: Coords, b: Coords) -> None:
    assert distance(a, b) == distance(b, a)
    assert distance(a, b) >= 5
    assert (distance(a, b) == 5) == (a == b)


# --- fleet speed / cargo --------------------------------------------------


def test_fleet_speed_is_slowest_present_ship() -> None:
    assert fleet_speed({"light_fighter": 3}) == 12500
    assert fleet_speed({"light_fighter": 3, "small_cargo": 1}) == 5000
    # a zero count does not slow the fleet down
    assert fleet_speed({"cruiser": 2, "small_cargo": 0}) == 15000


@pytest.mark.parametrize("ships", [{}, {"cruiser": 0}])
def test_fleet_speed_empty(ships: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        fleet_speed(ships)


@pytest.mark.parametrize("ships", [{"death_star": 1}, {"rocket_launcher": 1}, {"cruiser": -1}])
def test_bad_fleets_rejected(ships: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        fleet_speed(ships)
    with pytest.raises(ValueError):
        cargo_capacity(ships)
    with pytest.raises(ValueError):
        fuel_cost(ships, 1000, 100)


def test_cargo_capacity() -> None:
    assert cargo_capacity({}) == 0
    assert cargo_capacity({"espionage_probe": 10}) == 0
    # 2*5000 + 1*25000 + 4*50 = 35200
    assert cargo_capacity({"small_cargo": 2, "large_cargo": 1, "light_fighter": 4}) == 35200


# --- flight duration ------------------------------------------------------


@pytest.mark.parametrize(
    ("dist", "speed", "percent", "game_speed", "expected"),
    [
        # light_fighter 1:1:1 -> 1:3:1 at 100%, U=1:
        # 3500*sqrt(10*2890/12500) + 10 = 3500*sqrt(2.312) + 10 = 3500*1.5205262 + 10 = 5331.84 -> 5332
        (2890, 12500, 100, 1, 5332),
        # battleship 1:1:1 -> 3:1:1 at 100%: 3500*sqrt(40) + 10 = 3500*6.3245553 + 10 = 22145.94 -> 22146
        (40000, 10000, 100, 1, 22146),
        # small_cargo 1:1:1 -> 1:1:5 at 50%: 7000*sqrt(2.04) + 10 = 7000*1.4282857 + 10 = 10008.0 -> 10008
        (1020, 5000, 50, 1, 10008),
        # exact square root: sqrt(10*1000/10000) = 1
        (1000, 10000, 100, 1, 3510),  # 3500 + 10
        (1000, 10000, 50, 1, 7010),  # 7000 + 10
        (1000, 10000, 10, 1, 35010),  # 35000 + 10
        (1000, 10000, 100, 2, 1755),  # 3510 / 2
        (1000, 10000, 100, 4, 878),  # 3510 / 4 = 877.5, ties go up
        (1000, 10000, 100, 0.5, 7020),  # 3510 / 0.5
        # sqrt(10*3000/7500) = 2: 7000 + 10
        (3000, 7500, 100, 1, 7010),
    ],
)
def test_flight_seconds_hand_values(
    dist: int, speed: int, percent: int, game_speed: float, expected: int
) -> None:
    assert flight_seconds(dist, speed, percent, game_speed) == expected


@pytest.mark.parametrize("percent", [0, 5, 15, 110, -10, 99])
def test_flight_seconds_rejects_bad_percent(percent: int) -> None:
    with pytest.raises(ValueError, match="speed percent"):
        flight_seconds(1000, 10000, percent, 1)


@pytest.mark.parametrize(("dist", "speed", "game_speed"), [(-1, 10000, 1), (1000, 0, 1), (1000, 10000, 0)])
def test_flight_seconds_rejects_bad_arguments(dist: int, speed: int, game_speed: float) -> None:
    with pytest.raises(ValueError):
        flight_seconds(dist, speed, 100, game_speed)


@given(
    coords_st,
    coords_st,
    st.sampled_from([unit.speed for unit in SHIPS.values()]),
    st.sampled_from(range(10, 100, 10)),
    st.sampled_from([0.5, 1, 2, 3, 5, 10]),
)
def test_duration_decreases_with_speed_percent(
    a: Coords, b: Coords, speed: int, percent: int, game_speed: float
) -> None:
    dist = distance(a, b)
    slower = flight_seconds(dist, speed, percent, game_speed)
    faster = flight_seconds(dist, speed, percent + 10, game_speed)
    assert faster <= slower
    if game_speed == 1 and speed <= 15000:
        # no rounding collapse at realistic speeds: strictly shorter
        assert faster < slower


@given(coords_st, coords_st, st.sampled_from([unit.speed for unit in SHIPS.values()]), percent_st)
def test_duration_decreases_with_game_speed(a: Coords, b: Coords, speed: int, percent: int) -> None:
    dist = distance(a, b)
    durations = [flight_seconds(dist, speed, percent, u) for u in (0.5, 1, 2, 4, 8)]
    assert durations == sorted(durations, reverse=True)
    assert all(d >= 1 for d in durations)


# --- fuel -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("ships", "dist", "percent", "expected"),
    [
        # 7 battleships 1:1:1 -> 3:1:1: 500*7*40000/35000 = 4000, then * (f+1)^2
        ({"battleship": 7}, 40000, 100, 16000),  # * 2^2 = 16000 exactly
        ({"battleship": 7}, 40000, 50, 9000),  # * 1.5^2 = 9000 exactly
        ({"battleship": 7}, 40000, 10, 4840),  # * 1.1^2 = 4840 exactly
        # 1 light_fighter 1:1:1 -> 1:3:1 at 100%: 20*2890/35000*4 = 6.6057 -> ceil 7
        ({"light_fighter": 1}, 2890, 100, 7),
        # 10 small_cargo 1:1:1 -> 1:1:5 at 50%: 10*10*1020/35000*2.25 = 6.557 -> ceil 7
        ({"small_cargo": 10}, 1020, 50, 7),
        # 1 probe to the same place at 10%: 5/35000*1.21 ~ 0.0002 -> minimum 1
        ({"espionage_probe": 1}, 5, 10, 1),
        # a zero count costs nothing: still the 16000 of the battleships
        ({"battleship": 7, "cruiser": 0}, 40000, 100, 16000),
        # mixed: (300*1 + 20*5) * 35000 / 35000 * 4 = 400 * 4 = 1600
        ({"cruiser": 1, "light_fighter": 5}, 35000, 100, 1600),
        # one unit above an exact value is rounded up: 1600 + 4/35000 -> 1601
        ({"cruiser": 1, "light_fighter": 5}, 35001, 100, 1601),
    ],
)
def test_fuel_cost_hand_values(ships: dict[str, int], dist: int, percent: int, expected: int) -> None:
    assert fuel_cost(ships, dist, percent) == expected


def test_fuel_cost_rejects_empty_fleet_and_bad_percent() -> None:
    with pytest.raises(ValueError):
        fuel_cost({}, 1000, 100)
    with pytest.raises(ValueError, match="speed percent"):
        fuel_cost({"cruiser": 1}, 1000, 55)


@given(fleet_st, coords_st, coords_st, percent_st)
def test_fuel_cost_at_least_one_and_never_below_formula(
    ships: dict[str, int], a: Coords, b: Coords, percent: int
) -> None:
    dist = distance(a, b)
    cost = fuel_cost(ships, dist, percent)
    assert isinstance(cost, int)
    assert cost >= 1
    # exact formula as a fraction: consumption * dist * (p+100)^2 / (35000 * 100^2)
    numerator = sum(SHIPS[name].fuel * count for name, count in ships.items()) * dist * (percent + 100) ** 2
    denominator = 35000 * 100**2
    assert cost * denominator >= numerator
    assert cost == 1 or (cost - 1) * denominator < numerator


@given(fleet_st, coords_st, coords_st, st.sampled_from(range(10, 100, 10)))
def test_fuel_cost_grows_with_speed_percent(
    ships: dict[str, int], a: Coords, b: Coords, percent: int
) -> None:
    dist = distance(a, b)
    assert fuel_cost(ships, dist, percent) <= fuel_cost(ships, dist, percent + 10)
