"""Every write on fleets: dispatch, arrival (combat, loot, delivery), return and recall.

Arrivals and returns are events of the game's timeline (galactic.timeline): each takes effect as
of its own time, whatever order the workers run them in. Lock order, everywhere in the game:
planets by primary key, then the fleets, probe missions and NPC bases on them. Rows are locked
FOR NO KEY UPDATE: we never change a key, and a plain FOR UPDATE would also block the FOR KEY
SHARE lock that inserting a fleet takes on both its planets (galactic.services).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from combat import services as combat
from combat.models import NpcBase, Report
from fleets import schedules
from fleets.models import Fleet
from galactic import selectors as planet_selectors
from galactic import timeline
from galactic.db import CompiledQuery, bulk_save, create_all, insert
from galactic.errors import Conflict, Invalid, NotFound
from galactic.flight import cargo_capacity
from galactic.models import Planet, Player
from galactic.services import planet_launch
from galactic.ships import RESOURCES, SHIPS
from galactic.timeline import Event, Run

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
    target = planet_selectors.planet(target_id)
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
        fleet = Fleet(
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
        insert(fleet)  # Fleet.objects.create(), without compiling the INSERT each time
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


ARRIVAL, RETURN = "fleet-arrival", "fleet-return"
ARRIVAL_FIELDS = ("status", "ships", *RESOURCES, "report")  # what an arrival changes on a fleet


def fleet_arrive(*, fleet_id: int) -> bool:
    """fleet:arrival for one fleet; see fleet_arrive_many. True if it acted."""
    return fleet_arrive_many([fleet_id])[fleet_id]


def fleet_arrive_many(fleet_ids: Sequence[int]) -> dict[int, bool]:
    """fleet:arrival. Attack: battle, loot, maybe defeat an NPC base. Transport: unload.

    Many fleets in one transaction, as the GameWorker batches the arrivals that fall due together.
    Advances their target planets to the latest of their arrival times (galactic.timeline): every
    event due on those planets by then is applied in game-time order, each to what the previous one
    left, whatever order the jobs came in. Idempotent: a fleet that is no longer outbound is left
    alone. Writes exactly one report per arrival and schedules fleet:return (and npc:respawn on a
    defeat) after the commit. Returns, per fleet id, whether this call applied its arrival.
    """
    return _advance(fleet_ids, ARRIVAL, _DUE_ARRIVALS.fetch(list(fleet_ids)))


def fleet_return(*, fleet_id: int) -> bool:
    """fleet:return for one fleet; see fleet_return_many. True if it acted."""
    return fleet_return_many([fleet_id])[fleet_id]


def fleet_return_many(fleet_ids: Sequence[int]) -> dict[int, bool]:
    """fleet:return. Land the surviving ships and the cargo on the origin planets.

    Many fleets in one transaction, as fleet_arrive_many: advances the origins to the latest return
    time. Idempotent: only a returning fleet lands, once. The fleet keeps its cargo figures (what
    it brought home). Returns, per fleet id, whether this call landed it.
    """
    return _advance(fleet_ids, RETURN, _DUE_RETURNS.fetch(list(fleet_ids)))


# What every arrival, return and timeline run of fleets sends: compiled once per process
# (galactic.db.CompiledQuery). The planet each event changes and its time, for fleets still due:
_DUE_ARRIVALS = CompiledQuery(
    lambda ids: Fleet.objects.filter(pk__any_of=ids, status=Fleet.Status.OUTBOUND).values_list(
        "target_id", "arrive_at"
    ),
    list,
)
_DUE_RETURNS = CompiledQuery(
    lambda ids: Fleet.objects.filter(pk__any_of=ids, status=Fleet.Status.RETURNING).values_list(
        "origin_id", "return_at"
    ),
    list,
)


def _pending(planet_ids: list[int], until: datetime) -> QuerySet[Fleet]:
    """The fleets with an event on these planets due by `until`, locked (after the planets)."""
    outbound = Q(status=Fleet.Status.OUTBOUND) & (
        Q(target_id__any_of=planet_ids, arrive_at__lte=until)
        | Q(origin_id__any_of=planet_ids, return_at__lte=until)
    )
    returning = Q(status=Fleet.Status.RETURNING, origin_id__any_of=planet_ids, return_at__lte=until)
    return (
        Fleet.objects.select_for_update(of=("self",), no_key=True)
        .select_related("owner")
        .filter(outbound | returning)
        .order_by("pk")
    )


_PENDING = CompiledQuery(_pending, list, datetime)


def _advance(fleet_ids: Sequence[int], kind: str, due: list[tuple[int, datetime]]) -> dict[int, bool]:
    acted = dict.fromkeys(fleet_ids, False)
    if due:
        until = max(at for _, at in due)
        own = [(kind, fleet_id) for fleet_id in fleet_ids]
        run = timeline.advance(planet_ids={planet for planet, _ in due}, until=until, own=own)
        applied = run.applied_keys()
        acted = {fleet_id: (kind, fleet_id) in applied for fleet_id in fleet_ids}
    return acted


class FleetEvents:
    """Fleet arrivals and returns as events of the game's timeline (galactic.timeline).

    Rows are locked after the planets (the lock order of the whole game), FOR NO KEY UPDATE: we
    never change a key, and a plain FOR UPDATE would also block the FOR KEY SHARE lock that
    inserting a fleet takes on its planets. Writes are collected and sent once per run.
    """

    kinds = (ARRIVAL, RETURN)
    RETURN_RANK, ARRIVAL_RANK = 1, 3  # at one instant: respawns, returns, then arrivals

    def __init__(self) -> None:
        self.fleets: dict[int, Fleet] = {}
        self.reports: list[tuple[Fleet, Report]] = []
        self.landed = 0

    def feeders(self, planet_ids: list[int], until: datetime) -> QuerySet:
        outbound = Fleet.objects.filter(status=Fleet.Status.OUTBOUND, return_at__lte=until)
        return outbound.filter(origin_id__any_of=planet_ids).values_list("target_id")

    def load(self, planet_ids: set[int], run: Run) -> Iterable[Event]:
        for fleet in _PENDING.fetch(list(planet_ids), run.until):
            fleet = self.fleets.setdefault(fleet.pk, fleet)
            yield self._event(fleet)

    def _event(self, fleet: Fleet) -> Event:
        if fleet.status == Fleet.Status.OUTBOUND:
            return Event(fleet.arrive_at, self.ARRIVAL_RANK, fleet.pk, ARRIVAL, fleet.target_id, fleet)
        return Event(fleet.return_at, self.RETURN_RANK, fleet.pk, RETURN, fleet.origin_id, fleet)

    def apply(self, event: Event, run: Run) -> Iterable[Event]:
        fleet: Fleet = event.row
        planet = run.planets[event.planet_id]
        planet.settle(event.at)
        if event.kind == RETURN:
            planet.add(fleet.ships)
            planet.add(fleet.cargo)
            fleet.status = Fleet.Status.COMPLETED
            self.landed += 1
            return []
        follow = []
        if fleet.mission == Fleet.Mission.ATTACK:
            npc = run.kind(combat.NpcBases).base_at(planet.pk)
            report, respawn = _attack(fleet, planet, npc)
            follow += [respawn] if respawn else []
        else:
            report = _deliver(fleet, planet)
        self.reports.append((fleet, report))
        if fleet.status == Fleet.Status.RETURNING:
            follow.append(self._event(fleet))
        return follow

    def flush(self, run: Run) -> None:
        create_all([report for _, report in self.reports])  # bulk_create; one alone: insert()
        for fleet, report in self.reports:
            fleet.report = report
        applied = {pk for kind, pk in run.applied_keys() if kind in self.kinds}
        bulk_save([fleet for pk, fleet in self.fleets.items() if pk in applied], ARRIVAL_FIELDS)
        # The returns this run did not land are scheduled (one job per fleet, whatever the run).
        arrived = [fleet for fleet, _ in self.reports if fleet.status == Fleet.Status.RETURNING]
        schedules.schedule_returns(arrived)


def _attack(fleet: Fleet, target: Planet, npc: NpcBase | None) -> tuple[Report, Event | None]:
    outcome = combat.battle_at_planet(
        attacker=fleet.owner,
        ships=fleet.ships,
        carried=fleet.cargo,
        target=target,
        npc=npc,
        at=fleet.arrive_at,
        seed=combat.battle_seed("fleet", fleet.pk, fleet.arrive_at.isoformat()),
    )
    respawn = combat.npc_defeat(npc=npc, at=fleet.arrive_at) if outcome.defeated_npc else None
    fleet.ships = outcome.survivors
    for name, amount in outcome.loot.items():
        setattr(fleet, name, getattr(fleet, name) + amount)
    fleet.status = Fleet.Status.RETURNING if outcome.survivors else Fleet.Status.DESTROYED
    return outcome.report, respawn


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


def fleet_recall(*, fleet_id: int, player: Player | None = None) -> Fleet:
    """Turn an outbound fleet around now: it flies home for as long as it has flown, without
    arriving (no battle, no delivery, no report). For players (their own fleets) and for operators
    (player=None), e.g. on an event stuck past its time.

    A fleet past its arrival time has arrived, whether or not a worker has run the arrival yet:
    players cannot recall it any more (Conflict). Operators may still send home a fleet whose
    arrival is stuck: it turns at its arrival time, without arriving (their escape hatch for an
    event that cannot be applied).

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
        now = timezone.now()
        if player is not None and now >= fleet.arrive_at:
            arrived = fleet.arrive_at.isoformat(timespec="milliseconds")
            raise Conflict(
                f"the fleet arrived at {arrived}; it can no longer be recalled", {"fleet": "has arrived"}
            )
        turn = min(now, fleet.arrive_at)
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
