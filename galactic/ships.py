"""The unit catalogue of RULES.md: ships and defences, their costs and combat values.

Pure data, no Django: the battle engine, flight arithmetic and the services all read it.
"""

from __future__ import annotations

from dataclasses import dataclass

RESOURCES: tuple[str, ...] = ("metal", "crystal", "deuterium")


@dataclass(frozen=True, slots=True)
class UnitType:
    name: str
    cost: tuple[int, int, int]  # metal, crystal, deuterium
    hull: int
    shield: int
    attack: int
    cargo: int = 0
    speed: int = 0  # 0: a defence, it never flies
    fuel: int = 0

    @property
    def flies(self) -> bool:
        return self.speed > 0


SHIPS: dict[str, UnitType] = {
    unit.name: unit
    for unit in (
        UnitType("light_fighter", (3000, 1000, 0), 400, 10, 50, cargo=50, speed=12500, fuel=20),
        UnitType("heavy_fighter", (6000, 4000, 0), 1000, 25, 150, cargo=100, speed=10000, fuel=75),
        UnitType("cruiser", (20000, 7000, 2000), 2700, 50, 400, cargo=800, speed=15000, fuel=300),
        UnitType("battleship", (45000, 15000, 0), 6000, 200, 1000, cargo=1500, speed=10000, fuel=500),
        UnitType("small_cargo", (2000, 2000, 0), 400, 10, 5, cargo=5000, speed=5000, fuel=10),
        UnitType("large_cargo", (6000, 6000, 0), 1200, 25, 5, cargo=25000, speed=7500, fuel=50),
        UnitType("espionage_probe", (0, 1000, 0), 100, 0, 0, cargo=0, speed=100_000_000, fuel=1),
    )
}

DEFENCES: dict[str, UnitType] = {
    unit.name: unit
    for unit in (
        UnitType("rocket_launcher", (2000, 0, 0), 200, 20, 80),
        UnitType("light_laser", (1500, 500, 0), 200, 25, 100),
        UnitType("heavy_laser", (6000, 2000, 0), 800, 100, 250),
    )
}

UNITS: dict[str, UnitType] = {**SHIPS, **DEFENCES}

PROBE = "espionage_probe"

# RAPID_FIRE[shooter][target] = RF: after a shot at `target`, shoot again with probability 1 - 1/RF.
RAPID_FIRE: dict[str, dict[str, int]] = {name: {PROBE: 5} for name, unit in SHIPS.items() if unit.attack > 0}
RAPID_FIRE["heavy_fighter"]["small_cargo"] = 3
RAPID_FIRE["cruiser"]["light_fighter"] = 6
RAPID_FIRE["cruiser"]["rocket_launcher"] = 10

TECHNOLOGIES: tuple[str, ...] = ("weapons", "shielding", "armour", "espionage")
