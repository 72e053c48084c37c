"""NPC base templates by tier: what a base holds when it is seeded and after each respawn.

Pure data. Respawn delays are in hours at GAME_SPEED 1 (RULES.md: 2 h, 4 h, 8 h by tier).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class NpcTemplate:
    tier: int
    ships: dict[str, int]
    defences: dict[str, int]
    stock: dict[str, int]
    production: dict[str, int]
    technology: dict[str, int] = field(default_factory=dict)
    respawn_hours: int = 2


TEMPLATES: dict[int, NpcTemplate] = {
    1: NpcTemplate(
        tier=1,
        ships={"light_fighter": 10, "small_cargo": 2},
        defences={"rocket_launcher": 10},
        stock={"metal": 40_000, "crystal": 20_000, "deuterium": 5_000},
        production={"metal": 2_000, "crystal": 1_000, "deuterium": 500},
        respawn_hours=2,
    ),
    2: NpcTemplate(
        tier=2,
        ships={"light_fighter": 40, "heavy_fighter": 15, "cruiser": 5},
        defences={"rocket_launcher": 40, "light_laser": 20},
        stock={"metal": 150_000, "crystal": 80_000, "deuterium": 20_000},
        production={"metal": 6_000, "crystal": 3_000, "deuterium": 1_500},
        technology={"weapons": 2, "shielding": 2, "armour": 2, "espionage": 2},
        respawn_hours=4,
    ),
    3: NpcTemplate(
        tier=3,
        ships={"heavy_fighter": 60, "cruiser": 30, "battleship": 10},
        defences={"rocket_launcher": 100, "light_laser": 60, "heavy_laser": 20},
        stock={"metal": 500_000, "crystal": 300_000, "deuterium": 100_000},
        production={"metal": 15_000, "crystal": 8_000, "deuterium": 4_000},
        technology={"weapons": 5, "shielding": 5, "armour": 5, "espionage": 4},
        respawn_hours=8,
    ),
}
