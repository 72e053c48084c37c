"""Espionage of RULES.md (section Espionage): what probes reveal and whether they are seen.

Pure functions, no Django.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

SECTIONS: tuple[str, ...] = ("resources", "ships", "defences", "technology")
# Minimum S = probes + delta * |delta| for each section to be revealed.
SECTION_THRESHOLDS: dict[str, int] = {"ships": 2, "defences": 3, "technology": 7}


def _check_levels(probes: int, attacker_level: int, defender_level: int) -> None:
    if probes < 1:
        raise ValueError(f"a probe mission needs at least one probe, got {probes}")
    if attacker_level < 0 or defender_level < 0:
        raise ValueError(f"espionage levels must not be negative, got {attacker_level}, {defender_level}")


def sections_revealed(probes: int, attacker_level: int, defender_level: int) -> list[str]:
    """Report sections, in SECTIONS order: resources always, the others by S thresholds."""
    _check_levels(probes, attacker_level, defender_level)
    delta = attacker_level - defender_level
    score = probes + delta * abs(delta)
    return [section for section in SECTIONS if section == "resources" or score >= SECTION_THRESHOLDS[section]]


def accuracy(sections: Sequence[str]) -> float:
    """Share of the four sections revealed (0.25 to 1.0)."""
    revealed = set(sections)
    unknown = revealed.difference(SECTIONS)
    if unknown:
        raise ValueError(f"unknown report sections: {sorted(unknown)}")
    return len(revealed) / len(SECTIONS)


def discovery_chance(probes: int, target_ships: int, attacker_level: int, defender_level: int) -> int:
    """Percent chance c = clamp(floor(100 * ships * (def - att + 1) / (4 * probes)), 0, 100).

    0 when the target has no ships or def - att + 1 <= 0. Integer arithmetic.
    """
    _check_levels(probes, attacker_level, defender_level)
    if target_ships < 0:
        raise ValueError(f"target ships must not be negative, got {target_ships}")
    factor = defender_level - attacker_level + 1
    if target_ships == 0 or factor <= 0:
        return 0
    return min(100, 100 * target_ships * factor // (4 * probes))


def is_discovered(chance: int, rng: random.Random) -> bool:
    """Draw once: True with probability chance / 100 (rng.randrange(100) < chance)."""
    if not 0 <= chance <= 100:
        raise ValueError(f"chance must be in 0-100, got {chance}")
    return rng.randrange(100) < chance
