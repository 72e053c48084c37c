"""Loot of RULES.md (section Loot): how a winning fleet fills its holds.

Pure functions, no Django: whole numbers only, every division rounds down.
"""

from __future__ import annotations

from collections.abc import Mapping


def cargo_room(capacity: int, carried: Mapping[str, int]) -> int:
    """Free cargo room: capacity minus what the fleet already carries, never negative."""
    if capacity < 0:
        raise ValueError(f"capacity must not be negative, got {capacity}")
    for name, amount in carried.items():
        if amount < 0:
            raise ValueError(f"carried amounts must not be negative, got {name}={amount}")
    return max(0, capacity - sum(carried.values()))


def loot(room: int, metal: int, crystal: int, deuterium: int) -> dict[str, int]:
    """What a fleet with `room` free cargo takes from a target holding metal/crystal/deuterium.

    At most half of each stock (M, C, D, rounded down) is on offer. With `rest` the room still
    free at each step: metal = min(room/3, M); crystal = min(rest/2, C); deuterium = min(rest, D);
    metal += min(rest/2, M - metal); crystal += min(rest, C - crystal); divisions round down.
    """
    if room < 0:
        raise ValueError(f"room must not be negative, got {room}")
    for name, amount in (("metal", metal), ("crystal", crystal), ("deuterium", deuterium)):
        if amount < 0:
            raise ValueError(f"{name} stock must not be negative, got {amount}")
    half_m, half_c, half_d = metal // 2, crystal // 2, deuterium // 2

    took_m = min(room // 3, half_m)
    rest = room - took_m
    took_c = min(rest // 2, half_c)
    rest -= took_c
    took_d = min(rest, half_d)
    rest -= took_d
    extra_m = min(rest // 2, half_m - took_m)
    took_m += extra_m
    rest -= extra_m
    took_c += min(rest, half_c - took_c)
    return {"metal": took_m, "crystal": took_c, "deuterium": took_d}
