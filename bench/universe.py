"""Game state for the benchmarks, written straight to the database (bulk inserts, no API calls).

Call only after Django is set up (inside a bench.harness.Stack).

- `battle_fleets(n, at)`: n outbound attack fleets of 50 units, each against a planet of its own
  held by 50 defending units (ships and defences), all arriving at `at`, returning an hour later.
  Their arrival is a real fleet:arrival: a 50 v 50 battle, loot, a report, and fleet:return
  scheduled. One target per fleet, so the workers never wait on each other's row locks.
- `dispatchers(n)`: n players with a well-stocked home planet each, for POST /api/fleets.

Each ends with ANALYZE of the tables it wrote, as autovacuum does on a running game's database:
the planner picks the per-planet indexes only with statistics (on a machine whose PostgreSQL runs
without autovacuum, this one's, a table that grew without them is read through the wrong index).
"""

from __future__ import annotations

from datetime import datetime, timedelta

ATTACKER_SHIPS = {"light_fighter": 10, "cruiser": 20, "battleship": 10, "large_cargo": 10}  # 50 units
DEFENDER_UNITS = {  # 50 units
    "light_fighter": 15,
    "heavy_fighter": 5,
    "cruiser": 5,
    "rocket_launcher": 15,
    "light_laser": 10,
}
TARGET_POSITIONS = (1, 3, 5, 7, 11, 13, 15)  # homes take even positions, NPC bases 2, 9 and 14


def free_places(count: int, start_galaxy: int = 1):
    """Free coordinates that no home planet or NPC base will take later."""
    from galactic.models import Planet

    taken = set(Planet.objects.values_list("galaxy", "system", "position"))
    made = 0
    for galaxy in range(start_galaxy, 10):
        for system in range(1, 500):
            for position in TARGET_POSITIONS:
                if made == count:
                    return
                if (galaxy, system, position) not in taken:
                    yield galaxy, system, position
                    made += 1
    raise RuntimeError("the universe is full")


def battle_fleets(count: int, at: datetime) -> list[int]:
    """Ids of `count` outbound attack fleets arriving at `at` (see the module docstring)."""
    from django.utils import timezone

    from fleets.models import Fleet
    from galactic.models import Planet
    from galactic.services import player_create

    attacker = player_create(username=f"attacker{Planet.objects.count()}")
    defender = player_create(username=f"defender{Planet.objects.count()}")
    now = timezone.now()
    planets = Planet.objects.bulk_create(
        [
            Planet(
                name=f"target {i}",
                galaxy=galaxy,
                system=system,
                position=position,
                owner=defender.player,
                resources_at=now - timedelta(hours=1),
                metal=200_000,
                crystal=100_000,
                deuterium=50_000,
                metal_per_hour=3_000,
                crystal_per_hour=1_500,
                deuterium_per_hour=800,
                **DEFENDER_UNITS,
            )
            for i, (galaxy, system, position) in enumerate(free_places(count, start_galaxy=2))
        ],
        batch_size=2000,
    )
    fleets = Fleet.objects.bulk_create(
        [
            Fleet(
                owner=attacker.player,
                mission=Fleet.Mission.ATTACK,
                status=Fleet.Status.OUTBOUND,
                origin=attacker.home,
                target=planet,
                ships=dict(ATTACKER_SHIPS),
                fuel=1,
                speed=100,
                depart_at=min(now, at) - timedelta(hours=1),
                arrive_at=at,
                return_at=at + timedelta(hours=1),
            )
            for planet in planets
        ],
        batch_size=2000,
    )
    analyze()
    return [fleet.pk for fleet in fleets]


def analyze() -> None:
    """Statistics for the game's tables, as autovacuum keeps them (see the module docstring)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE galactic_player, galactic_planet, fleets_fleet, probes_probemission")


def schedule_arrivals(fleet_ids: list[int], at: datetime) -> None:
    """Write each fleet's fleet:arrival job to Redis, as schedule_arrival does after commit."""
    from fleets.schedules import arrival_job_id
    from galactic.events import queue

    events = [queue.PendingEvent("fleets.jobs.fleet_arrival", arrival_job_id(i), at, (i,)) for i in fleet_ids]
    queue.put_many(events)


def dispatchers(count: int) -> list[dict]:
    """`count` players, each with a home planet stocked for thousands of dispatches:
    [{"token", "home", "target"}], where target is the next player's home."""
    from galactic.models import Planet
    from galactic.services import player_create

    made = [player_create(username=f"dispatcher{i}") for i in range(count)]
    Planet.objects.filter(pk__in=[p.home.pk for p in made]).update(
        small_cargo=10**9,
        metal=10**12,
        crystal=10**12,
        deuterium=10**12,
        metal_per_hour=0,
        crystal_per_hour=0,
        deuterium_per_hour=0,
    )
    analyze()
    return [
        {"token": p.token, "home": p.home.pk, "target": made[(i + 1) % count].home.pk}
        for i, p in enumerate(made)
    ]


def fleets_to(
    targets: list[int],
    *,
    mission: str,
    ships: dict[str, int],
    cargo: dict[str, int] | None = None,
    at: datetime,
) -> list[int]:
    """One outbound fleet of a new player to each target planet, arriving at `at`; their ids."""
    from django.utils import timezone

    from fleets.models import Fleet
    from galactic.models import Planet
    from galactic.services import player_create

    owner = player_create(username=f"sender{Planet.objects.count()}")
    now = timezone.now()
    fleets = Fleet.objects.bulk_create(
        [
            Fleet(
                owner=owner.player,
                mission=mission,
                status=Fleet.Status.OUTBOUND,
                origin=owner.home,
                target_id=target,
                ships=dict(ships),
                **(cargo or {}),
                fuel=1,
                speed=100,
                depart_at=min(now, at) - timedelta(hours=1),
                arrive_at=at,
                return_at=at + timedelta(hours=1),
            )
            for target in targets
        ]
    )
    analyze()
    return [fleet.pk for fleet in fleets]
