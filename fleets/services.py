"""Every write on fleets: dispatch, arrival (combat, loot, delivery) and return.

Lock order, everywhere in the game: the fleet, then planets by primary key, then the NPC base.
Rows are locked FOR NO KEY UPDATE: we never change a key, and a plain FOR UPDATE would also block
the FOR KEY SHARE lock that inserting a fleet takes on both its planets (galactic.services).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from django.db import transaction
from django.utils import timezone

from combat import services as combat
from combat.models import NpcBase, Report
from fleets import schedules
from fleets.models import Fleet
from galactic.db import bulk_save
from galactic.errors import Conflict, Invalid, NotFound
from galactic.flight import cargo_capacity
from galactic.models import Planet, Player
from galactic.services import planet_launch
from galactic.ships import RESOURCES, SHIPS

MAX_AMOUNT = 10**12  # far beyond any real stock; refuses numbers that would overflow the columns
SPEEDS = range(10, 101, 10)


def _validate_dispatch(mission: str, ships: Mapping[str, int], cargo: Mapping[str, int], speed: int) -> None:
    fields = {}
    if mission not in Fleet.Mission.values:
        fields["mission"] = f"must be one of {', '.join(Fleet.Mission.values)}"
    if not ships:
        fields["ships"] = "send at least one ship"
    for name, count in ships.items():
        if name not in SHIPS:
            fields[f"ships.{name}"] = "unknown ship type"
        elif not isinstance(count, int) or isinstance(count, bool) or not 0 < count <= MAX_AMOUNT:
            fields[f"ships.{name}"] = f"must be a whole number from 1 to {MAX_AMOUNT}"
    for name, amount in cargo.items():
        if name not in RESOURCES:
            fields[f"cargo.{name}"] = "unknown resource"
        elif not isinstance(amount, int) or isinstance(amount, bool) or not 0 <= amount <= MAX_AMOUNT:
            fields[f"cargo.{name}"] = f"must be a whole number from 0 to {MAX_AMOUNT}"
    if speed not in SPEEDS:
        fields["speed"] = "must be 10 to 100 in steps of 10"
    if fields:
        raise Invalid("the fleet order is not valid", fields)


def fleet_dispatch(
    *,
    player: Player,
    origin_id: int,
    target_id: int,
    mission: str,
    ships: Mapping[str, int],
    cargo: Mapping[str, int],
    speed: int = 100,
) -> Fleet:
    """Launch a fleet: take its ships, cargo and fuel off the origin and schedule its arrival.

    Locks the origin planet, so two concurrent dispatches can never spend the same ships. Not
    idempotent (each call launches a fleet). Schedules fleet:arrival after the commit.
    """
    _validate_dispatch(mission, ships, cargo, speed)
    cargo = {name: cargo.get(name, 0) for name in RESOURCES}
    ships = dict(ships)
    if origin_id == target_id:
        raise Invalid("origin and target are the same planet", {"target": "must differ from origin"})
    target = Planet.objects.filter(pk=target_id).first()
    if target is None:
        raise NotFound("no such target planet", {"target": "not found"})
    if mission == Fleet.Mission.ATTACK and target.owner_id == player.pk:
        raise Invalid("you cannot attack your own planet", {"target": "is your own planet"})

    with transaction.atomic():
        launch = planet_launch(
            player=player,
            origin_id=origin_id,
            target=target,
            units=ships,
            cargo=cargo,
            speed=speed,
            check=lambda origin, fuel: _check_stock(origin, ships, cargo, fuel),
        )
        fleet = Fleet.objects.create(
            owner=player,
            mission=mission,
            origin=launch.origin,
            target=target,
            ships=ships,
            **cargo,
            fuel=launch.fuel,
            speed=speed,
            depart_at=launch.depart_at,
            arrive_at=launch.arrive_at,
            return_at=launch.return_at,
        )
        schedules.schedule_arrival(fleet)
    return fleet


def _check_stock(origin: Planet, ships: dict[str, int], cargo: dict[str, int], fuel: int) -> None:
    fields = {}
    for name, count in ships.items():
        if getattr(origin, name) < count:
            fields[f"ships.{name}"] = f"only {getattr(origin, name)} on the planet"
    for name, amount in cargo.items():
        if getattr(origin, name) < amount:
            fields[f"cargo.{name}"] = f"only {getattr(origin, name)} in stock"
    if origin.deuterium < cargo["deuterium"] + fuel:
        fields["fuel"] = f"the flight needs {fuel} deuterium on top of the cargo; {origin.deuterium} in stock"
    if sum(cargo.values()) > cargo_capacity(ships):
        fields["cargo"] = f"the ships hold {cargo_capacity(ships)} at most"
    if fields:
        raise Conflict("the planet cannot launch this fleet now", fields)


def _lock_with_owner(model: type[Fleet] | type[Planet], pks: Iterable[int], **filters: object) -> dict:
    """The rows of `model` with these keys (that match `filters`), with their owner, locked FOR NO
    KEY UPDATE in key order (the lock order of the whole game); by key."""
    rows = (
        model.objects.select_for_update(of=("self",), no_key=True)
        .select_related("owner")
        .filter(pk__in=pks, **filters)
        .order_by("pk")
    )
    return {row.pk: row for row in rows}


ARRIVAL_FIELDS = ("status", "ships", *RESOURCES, "report")  # what an arrival changes on a fleet


def fleet_arrive(*, fleet_id: int) -> bool:
    """fleet:arrival for one fleet; see fleet_arrive_many. True if it acted."""
    return fleet_arrive_many([fleet_id])[fleet_id]


def fleet_arrive_many(fleet_ids: Sequence[int]) -> dict[int, bool]:
    """fleet:arrival. Attack: battle, loot, maybe defeat an NPC base. Transport: unload.

    Many fleets in one transaction, as the GameWorker batches the arrivals that fall due together:
    the seven statements of one arrival serve the whole batch. Fleets landing on the
    same planet are applied in arrival order, each to what the previous one left, exactly as one
    transaction per fleet would.

    Locks the fleets, then the target planets by key, then their NPC bases (the lock order of the
    whole game), and settles each target to each arrival time. Idempotent: a fleet that is no longer
    outbound is left alone. Writes exactly one report per fleet and schedules its fleet:return (and
    npc:respawn on a defeat) after the commit. Returns, per fleet id, whether it acted.
    """
    acted = dict.fromkeys(fleet_ids, False)
    with transaction.atomic():
        fleets = list(_lock_with_owner(Fleet, fleet_ids, status=Fleet.Status.OUTBOUND).values())
        if not fleets:
            return acted
        targets = _lock_with_owner(Planet, {fleet.target_id for fleet in fleets})
        unowned = [pk for pk, planet in targets.items() if planet.owner_id is None]
        npcs = {
            npc.planet_id: npc
            for npc in (
                NpcBase.objects.select_for_update(no_key=True).filter(planet_id__in=unowned).order_by("pk")
                if unowned
                else ()
            )
        }
        arriving = sorted(fleets, key=lambda f: (f.arrive_at, f.pk))
        reports = []
        for fleet in arriving:
            target = targets[fleet.target_id]
            target.settle(fleet.arrive_at)
            if fleet.mission == Fleet.Mission.ATTACK:
                reports.append(_attack(fleet, target, npcs.get(target.pk)))
            else:
                reports.append(_deliver(fleet, target))
            acted[fleet.pk] = True
        Report.objects.bulk_create(reports)
        for fleet, report in zip(arriving, reports, strict=True):
            fleet.report = report
        bulk_save(targets.values(), Planet.STATE_FIELDS)
        bulk_save(fleets, ARRIVAL_FIELDS)
        schedules.schedule_returns([fleet for fleet in fleets if fleet.status == Fleet.Status.RETURNING])
    return acted


def _attack(fleet: Fleet, target: Planet, npc: NpcBase | None) -> Report:
    outcome = combat.battle_at_planet(
        attacker=fleet.owner,
        ships=fleet.ships,
        carried=fleet.cargo,
        target=target,
        npc=npc,
        at=fleet.arrive_at,
        seed=combat.battle_seed("fleet", fleet.pk, fleet.arrive_at.isoformat()),
    )
    if outcome.defeated_npc:
        combat.npc_defeat(npc=npc, at=fleet.arrive_at)
    fleet.ships = outcome.survivors
    for name, amount in outcome.loot.items():
        setattr(fleet, name, getattr(fleet, name) + amount)
    fleet.status = Fleet.Status.RETURNING if outcome.survivors else Fleet.Status.DESTROYED
    return outcome.report


def _deliver(fleet: Fleet, target: Planet) -> Report:
    delivered = fleet.cargo
    target.add(delivered)
    for name in RESOURCES:
        setattr(fleet, name, 0)
    fleet.status = Fleet.Status.RETURNING
    return Report(
        kind=Report.Kind.DELIVERY,
        at=fleet.arrive_at,
        attacker=fleet.owner,
        defender=target.owner,
        target=target,
        data={"delivered": delivered},
    )


def fleet_return(*, fleet_id: int) -> bool:
    """fleet:return for one fleet; see fleet_return_many. True if it acted."""
    return fleet_return_many([fleet_id])[fleet_id]


def fleet_return_many(fleet_ids: Sequence[int]) -> dict[int, bool]:
    """fleet:return. Land the surviving ships and the cargo on the origin planets.

    Many fleets in one transaction, as fleet_arrive_many. Locks the fleets, then the origin planets
    by key, each settled to each return time. Idempotent: only a returning fleet lands, once. The
    fleet keeps its cargo figures (what it brought home). Returns, per fleet id, whether it acted.
    """
    acted = dict.fromkeys(fleet_ids, False)
    with transaction.atomic():
        fleets = list(_lock_with_owner(Fleet, fleet_ids, status=Fleet.Status.RETURNING).values())
        if not fleets:
            return acted
        origins = _lock_with_owner(Planet, {fleet.origin_id for fleet in fleets})
        for fleet in sorted(fleets, key=lambda f: (f.return_at, f.pk)):
            origin = origins[fleet.origin_id]
            origin.settle(fleet.return_at)
            origin.add(fleet.ships)
            origin.add(fleet.cargo)
            fleet.status = Fleet.Status.COMPLETED
            acted[fleet.pk] = True
        bulk_save(origins.values(), Planet.STATE_FIELDS)
        bulk_save(fleets, ("status",))
    return acted


def fleet_recall(*, fleet_id: int, player: Player | None = None) -> Fleet:
    """Turn an outbound fleet around now: it flies home for as long as it has flown, without
    arriving (no battle, no delivery, no report). For players (their own fleets) and for operators
    (player=None), e.g. on an event stuck past its time.

    Locks the fleet. Raises NotFound, or Conflict when the fleet is no longer outbound. Its
    arrival job, should it still fire, finds the fleet returning and does nothing. Schedules
    fleet:return after the commit.
    """
    with transaction.atomic():
        fleets = Fleet.objects.select_for_update(no_key=True).filter(pk=fleet_id)
        fleet = (fleets.filter(owner=player) if player else fleets).first()
        if fleet is None:
            raise NotFound("no such fleet of yours", {"fleet": "not found"})
        if fleet.status != Fleet.Status.OUTBOUND:
            raise Conflict(f"only an outbound fleet can be recalled; this one is {fleet.status}")
        turn = min(timezone.now(), fleet.arrive_at)
        fleet.arrive_at = turn
        fleet.return_at = turn + (turn - fleet.depart_at)
        fleet.status = Fleet.Status.RETURNING
        fleet.save(update_fields=["arrive_at", "return_at", "status"])
        schedules.schedule_return(fleet)
    return fleet


def fleet_recall_for_event(fleet_id: int) -> str:
    """The operators' "send the fleet home" on a stuck fleet:arrival (galactic.events.stuck; registered in
    fleets/admin.py): takes the job's arguments and calls fleet_recall(player=None). Raises NotFound
    or Conflict as it does. Returns what happened, for the operator."""
    fleet = fleet_recall(fleet_id=fleet_id, player=None)
    return f"fleet {fleet.pk} sent home; it lands at {fleet.return_at:%Y-%m-%d %H:%M:%S} UTC"
