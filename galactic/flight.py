"""Flight arithmetic of RULES.md (section Flight): coordinates, distance, duration, fuel, cargo.

Pure functions over the ship catalogue: no Django, no ORM.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from galactic.ships import SHIPS, UnitType

GALAXIES = range(1, 10)
SYSTEMS = range(1, 500)
POSITIONS = range(1, 16)
SPEED_PERCENTS = range(10, 101, 10)

_COORDS_RE = re.compile(r"([0-9]+):([0-9]+):([0-9]+)")


@dataclass(frozen=True, slots=True)
class Coords:
    """A place in the universe, `g:s:p`."""

    galaxy: int
    system: int
    position: int

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("galaxy", self.galaxy, GALAXIES),
            ("system", self.system, SYSTEMS),
            ("position", self.position, POSITIONS),
        ):
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"{name} must be an integer, got {value!r}")
            if value not in allowed:
                raise ValueError(f"{name} must be in {allowed.start}-{allowed.stop - 1}, got {value}")

    @classmethod
    def parse(cls, text: str) -> Coords:
        """Parse "g:s:p" (surrounding whitespace allowed); ValueError if malformed or out of range."""
        match = _COORDS_RE.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"coordinates must look like 'g:s:p' (e.g. '1:42:7'), got {text!r}")
        return cls(*(int(part) for part in match.groups()))

    def __str__(self) -> str:
        return f"{self.galaxy}:{self.system}:{self.position}"


def distance(a: Coords, b: Coords) -> int:
    """Distance between two places: galaxies, then systems, then positions."""
    if a.galaxy != b.galaxy:
        return 20000 * abs(a.galaxy - b.galaxy)
    if a.system != b.system:
        return 2700 + 95 * abs(a.system - b.system)
    if a.position != b.position:
        return 1000 + 5 * abs(a.position - b.position)
    return 5


def _flying(ships: Mapping[str, int]) -> list[tuple[UnitType, int]]:
    """The (ship type, count) pairs with count > 0; ValueError on unknown names or negative counts."""
    fleet: list[tuple[UnitType, int]] = []
    for name, count in ships.items():
        unit = SHIPS.get(name)
        if unit is None or not unit.flies:
            raise ValueError(f"unknown ship {name!r} (not in the ship catalogue)")
        if count < 0:
            raise ValueError(f"ship count must not be negative, got {name}={count}")
        if count > 0:
            fleet.append((unit, count))
    return fleet


def fleet_speed(ships: Mapping[str, int]) -> int:
    """Speed of the slowest ship present (count > 0); ValueError if the fleet is empty."""
    fleet = _flying(ships)
    if not fleet:
        raise ValueError("a fleet needs at least one ship")
    return min(unit.speed for unit, _ in fleet)


def _check_speed_percent(speed_percent: int) -> None:
    if speed_percent not in SPEED_PERCENTS:
        raise ValueError(f"speed percent must be one of 10, 20, ..., 100, got {speed_percent!r}")


def flight_seconds(distance: int, speed: int, speed_percent: int, game_speed: float) -> int:
    """One-way duration: (3500 / f * sqrt(10 * distance / v) + 10) / U, rounded half up.

    f = speed_percent / 100. Ties (e.g. 877.5) go up, not to even as Python's round() would.
    """
    _check_speed_percent(speed_percent)
    if distance < 0:
        raise ValueError(f"distance must not be negative, got {distance}")
    if speed <= 0:
        raise ValueError(f"speed must be positive, got {speed}")
    if not game_speed > 0:
        raise ValueError(f"game speed must be positive, got {game_speed}")
    # 3500 / (p / 100) == 350000 / p
    seconds = (350000 / speed_percent * math.sqrt(10 * distance / speed) + 10) / game_speed
    return math.floor(seconds + 0.5)


def fuel_cost(ships: Mapping[str, int], distance: int, speed_percent: int) -> int:
    """Deuterium for the round trip: sum(fuel * count) * distance / 35000 * (f + 1)**2.

    Exact integer arithmetic, rounded UP (ceil) so the player never pays less than the
    formula; at least 1. ValueError if the fleet is empty.
    """
    _check_speed_percent(speed_percent)
    if distance < 0:
        raise ValueError(f"distance must not be negative, got {distance}")
    fleet = _flying(ships)
    if not fleet:
        raise ValueError("a fleet needs at least one ship")
    consumption = sum(unit.fuel * count for unit, count in fleet)
    # (f + 1)**2 == (p + 100)**2 / 100**2
    numerator = consumption * distance * (speed_percent + 100) ** 2
    denominator = 35000 * 100**2
    return max(1, -(-numerator // denominator))


def cargo_capacity(ships: Mapping[str, int]) -> int:
    """Total cargo room of the fleet (0 for an empty fleet)."""
    return sum(unit.cargo * count for unit, count in _flying(ships))
