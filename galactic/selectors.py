"""Reads on players and planets that every request sends: compiled once per process.

Each is a galactic.db.CompiledQuery: the same rows the plain queryset would give, without the
work of compiling it again on every request (the API's token lookup and planet reads).
"""

from __future__ import annotations

from galactic.db import CompiledQuery
from galactic.models import Planet, Player

_PLAYER_BY_TOKEN = CompiledQuery(
    lambda token_hash: Player.objects.filter(token_hash=token_hash, user__is_active=True)[:1], str
)
_PLANET = CompiledQuery(lambda pk: Planet.objects.filter(pk=pk)[:1], int)
_PLANET_OF = CompiledQuery(lambda pk, owner: Planet.objects.filter(pk=pk, owner_id=owner)[:1], int, int)
_PLANET_OF_LOCKED = CompiledQuery(
    lambda pk, owner: Planet.objects.select_for_update(no_key=True).filter(pk=pk, owner_id=owner)[:1],
    int,
    int,
)


def player_by_token(token_hash: str) -> Player | None:
    """The player whose API token has this hash, if its user account is active."""
    return _PLAYER_BY_TOKEN.first(token_hash)


def planet(planet_id: int) -> Planet | None:
    return _PLANET.first(planet_id)


def planet_of(planet_id: int, player_id: int) -> Planet | None:
    """The planet, if it is the player's."""
    return _PLANET_OF.first(planet_id, player_id)


def planet_of_locked(planet_id: int, player_id: int) -> Planet | None:
    """The planet, if it is the player's, locked FOR NO KEY UPDATE (inside a transaction)."""
    return _PLANET_OF_LOCKED.first(planet_id, player_id)
