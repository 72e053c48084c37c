"""Writes on the universe: players and their home planets."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from galactic import selectors
from galactic.db import bulk_save
from galactic.errors import NotFound
from galactic.flight import distance, fleet_speed, flight_seconds, fuel_cost
from galactic.models import Planet, Player, hash_token

STARTING_STOCK = {"metal": 500_000, "crystal": 300_000, "deuterium": 200_000}
STARTING_PRODUCTION = {"metal": 3_000, "crystal": 1_500, "deuterium": 800}
STARTING_SHIPS = {
    "light_fighter": 100,
    "heavy_fighter": 30,
    "cruiser": 20,
    "battleship": 10,
    "small_cargo": 20,
    "large_cargo": 10,
    "espionage_probe": 20,
}
STARTING_DEFENCES = {"rocket_launcher": 20, "light_laser": 10}


class PlayerExists(Exception):
    pass


@dataclass(frozen=True)
class NewPlayer:
    player: Player
    token: str  # shown once; only its hash is stored
    home: Planet


def player_create(*, username: str, password: str | None = None) -> NewPlayer:
    """Create a user, its player with a fresh API token, and a home planet on a free position.

    Raises PlayerExists when the username is taken. Not idempotent: each call makes a new player.
    """
    token = secrets.token_hex(20)
    try:
        with transaction.atomic():
            user = get_user_model().objects.create_user(username=username, password=password)
            player = Player.objects.create(user=user, token_hash=hash_token(token))
            home = planet_create_home(owner=player)
    except IntegrityError as error:
        if get_user_model().objects.filter(username=username).exists():
            raise PlayerExists(f"a player named {username!r} already exists") from error
        raise
    return NewPlayer(player=player, token=token, home=home)


def player_rotate_token(*, player: Player) -> str:
    """Issue a new API token; the old one stops working at once."""
    token = secrets.token_hex(20)
    Player.objects.filter(pk=player.pk).update(token_hash=hash_token(token))
    return token


def planet_create_home(*, owner: Player) -> Planet:
    """A home planet at the first free position, scanning systems from 1:1 (players cluster, as a
    small universe should), with the starting stock, production, ships and defences."""
    taken = set(Planet.objects.values_list("galaxy", "system", "position"))
    for galaxy in range(1, 10):
        for system in range(1, 500):
            for position in (4, 6, 8, 10, 12):
                if (galaxy, system, position) not in taken:
                    return Planet.objects.create(
                        name=f"{owner.user.username}'s home",
                        galaxy=galaxy,
                        system=system,
                        position=position,
                        owner=owner,
                        resources_at=timezone.now(),
                        **STARTING_STOCK,
                        **{f"{name}_per_hour": rate for name, rate in STARTING_PRODUCTION.items()},
                        **STARTING_SHIPS,
                        **STARTING_DEFENCES,
                    )
    raise RuntimeError("the universe is full")


@dataclass(frozen=True)
class Launch:
    origin: Planet
    fuel: int
    depart_at: datetime
    arrive_at: datetime
    return_at: datetime


def planet_launch(
    *,
    player: Player,
    origin_id: int,
    target: Planet,
    units: Mapping[str, int],
    cargo: Mapping[str, int],
    speed: int,
    check: Callable[[Planet, int], None],
) -> Launch:
    """Take the units, their cargo and the round trip's fuel off the player's origin planet, and
    time the flight: what every mission (fleet, probes) does at launch.

    Runs in the caller's transaction, which then creates the mission. Locks the origin FOR NO KEY
    UPDATE: a plain FOR UPDATE would block the FOR KEY SHARE lock that inserting the mission takes
    on its planets, and two launches A -> B and B -> A would deadlock. Raises NotFound when the
    origin is not the player's; `check(origin, fuel)` raises Conflict when the stock falls short.
    """
    origin = selectors.planet_of_locked(origin_id, player.pk)
    if origin is None:
        raise NotFound("no such planet of yours", {"origin": "not found"})
    now = timezone.now()
    origin.settle(now)
    way = distance(origin.coords, target.coords)
    fuel = fuel_cost(units, way, speed)
    check(origin, fuel)
    origin.add(dict(units), sign=-1)
    origin.add(dict(cargo), sign=-1)
    origin.deuterium -= fuel
    bulk_save([origin], Planet.STATE_FIELDS)  # save(update_fields=...), built once
    duration = timedelta(seconds=flight_seconds(way, fleet_speed(units), speed, settings.GAME_SPEED))
    return Launch(origin, fuel, now, now + duration, now + 2 * duration)
