"""Every write on probe missions: dispatch, and probe:update (arrivals with their espionage
report, discovery and its skirmish, returns).

Arrivals and returns are events of the game's timeline (galactic.timeline): each takes effect as of
its own time, whatever order they are run in. Lock order, as everywhere in the game: planets by
primary key, then the missions, fleets and NPC bases on them.

Who may read an espionage report: the sender always (`attacker`). The spied planet's owner
(`defender`) only when the probes were discovered: an unseen spy leaves no trace, while a
discovered one has fought the owner's ships, and the owner holds a notice pointing at it.
"""

from __future__ import annotations

import logging
import random
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Q, QuerySet

from combat.engine import resolve_battle
from combat.models import NpcBase, Report
from combat.services import NpcBases, battle_forces, battle_seed, forces_sides
from galactic import timeline
from galactic.db import CompiledQuery
from galactic.errors import Conflict, Invalid, NotFound
from galactic.events import attempts, queue
from galactic.flight import SPEED_PERCENTS
from galactic.models import Planet, Player
from galactic.services import planet_launch
from galactic.ships import PROBE, TECHNOLOGIES
from galactic.timeline import Event, Run
from probes import espionage
from probes.models import Notice, ProbeMission

logger = logging.getLogger(__name__)

MAX_PROBES = 10**12  # as fleets.services.MAX_AMOUNT: refuses numbers that would overflow the columns
BATCH_SIZE = 100

Status = ProbeMission.Status


def _is_whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate_dispatch(origin_id: int, target_id: int, count: int, speed: int) -> None:
    fields = {}
    if not _is_whole(count) or not 0 < count <= MAX_PROBES:
        fields["count"] = f"must be a whole number from 1 to {MAX_PROBES}"
    if not _is_whole(speed) or speed not in SPEED_PERCENTS:
        fields["speed"] = "must be 10 to 100 in steps of 10"
    if origin_id == target_id:
        fields["target"] = "must differ from origin"
    if fields:
        raise Invalid("the probe order is not valid", fields)


def probe_dispatch(
    *, player: Player, origin_id: int, target_id: int, count: int, speed: int = 100
) -> ProbeMission:
    """Launch `count` espionage probes from the player's planet `origin_id` to `target_id`.

    Takes the probes and the fuel (deuterium for the round trip) off the origin. Locks the origin
    planet, so two concurrent dispatches never spend the same probes. Not idempotent (each call
    launches a mission). Schedules nothing: the periodic probe:update advances every due mission.
    Refuses spying on one's own planet (400), as fleets refuse attacking it.
    """
    _validate_dispatch(origin_id, target_id, count, speed)
    target = Planet.objects.filter(pk=target_id).first()
    if target is None:
        raise NotFound("no such target planet", {"target": "not found"})
    if target.owner_id == player.pk:
        raise Invalid("you cannot spy on your own planet", {"target": "is your own planet"})
    with transaction.atomic():
        launch = planet_launch(
            player=player,
            origin_id=origin_id,
            target=target,
            units={PROBE: count},
            cargo={},
            speed=speed,
            check=lambda origin, fuel: _check_stock(origin, count, fuel),
        )
        return ProbeMission.objects.create(
            owner=player,
            origin=launch.origin,
            target=target,
            count=count,
            launched=count,
            fuel=launch.fuel,
            speed=speed,
            depart_at=launch.depart_at,
            arrive_at=launch.arrive_at,
            return_at=launch.return_at,
        )


def _check_stock(origin: Planet, count: int, fuel: int) -> None:
    fields = {}
    if origin.espionage_probe < count:
        fields["count"] = f"only {origin.espionage_probe} espionage probes on the planet"
    if origin.deuterium < fuel:
        fields["fuel"] = f"the flight needs {fuel} deuterium; {origin.deuterium} in stock"
    if fields:
        raise Conflict("the planet cannot launch these probes now", fields)


# --------------------------------------------------------------------------------------------------
# probe:update


@dataclass
class AdvanceCounts:
    batches: int = 0
    arrived: int = 0
    discovered: int = 0
    destroyed: int = 0
    returned: int = 0

    def add(self, other: AdvanceCounts) -> None:
        for name, value in other.as_dict().items():
            setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, int]:
        return {
            "batches": self.batches,
            "arrived": self.arrived,
            "discovered": self.discovered,
            "destroyed": self.destroyed,
            "returned": self.returned,
        }


ARRIVAL, RETURN = "probe-arrival", "probe-return"
MISSION_JOB_PREFIX = "probe-mission-"  # the id a mission's attempts and quarantine go under
MISSION_JOB = "probes.jobs.probe_mission"


def _due(now: datetime) -> Q:
    return Q(status=Status.OUTBOUND, arrive_at__lte=now) | Q(status=Status.RETURNING, return_at__lte=now)


def probe_missions_advance(*, now: datetime, batch_size: int = BATCH_SIZE) -> dict[str, int]:
    """probe:update. Advance every mission due at `now`: arrivals (espionage report, discovery and
    skirmish, notice), then, in a later batch, returns (probes land on the origin).

    Works in batches, each its own transaction: it takes the first planet with due missions that
    no other run holds (SKIP LOCKED, so two overlapping runs work side by side on different
    planets), and advances it to the time of its first `batch_size` due missions
    (galactic.timeline: every event due there by then, fleets too, in game-time order).
    Idempotent: applied events are no longer pending, so each arrival and each return happens
    exactly once. Schedules nothing. Returns counts: batches, arrived, discovered, destroyed, returned.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    total = AdvanceCounts()
    left_out: set[int] = set()  # planets that failed in this run: not taken again
    while True:
        taken: list[int] = []
        try:
            counts = _advance_batch(now, batch_size, left_out, taken)
        except Exception as error:  # one mission's failure never stalls the others
            if attempts.is_transient(error) or not taken:
                raise
            left_out.add(taken[-1])
            total.add(_isolate(taken[-1], now))
            continue
        if counts is None:
            return total.as_dict()
        total.add(counts)


def _advance_batch(
    now: datetime, batch_size: int, left_out: set[int], taken: list[int]
) -> AdvanceCounts | None:
    """One batch in one transaction; None when nothing (on a planet free to take) is due any more.
    The planet it takes is appended to `taken` (for the caller, should the batch fail)."""
    with transaction.atomic():
        planet_id = _take_planet(now, batch_size, left_out)
        if planet_id is None:
            return None
        taken.append(planet_id)
        mine = Q(status=Status.OUTBOUND, target_id=planet_id) | Q(
            status=Status.RETURNING, origin_id=planet_id
        )
        due = ProbeMission.objects.filter(_due(now) & mine).order_by("pk")[:batch_size]
        until = max((_event_time(mission)[0] for mission in due), default=now)
        run = timeline.advance(planet_ids=[planet_id], until=until)
        counts = run.kind(ProbeEvents).counts
        counts.batches = 1
    return counts


def _take_planet(now: datetime, batch_size: int, left_out: set[int]) -> int | None:
    """Lock the planet of the first due mission that no other run holds; its id."""
    skipped = Q(status=Status.OUTBOUND, target_id__in=left_out) | Q(
        status=Status.RETURNING, origin_id__in=left_out
    )
    quarantined = _quarantined_missions()  # set aside by every run: their planets are not due for them
    due = ProbeMission.objects.filter(_due(now)).exclude(skipped).exclude(pk__in=quarantined)
    candidates = due.order_by("pk")[: 4 * batch_size]
    planets = list(dict.fromkeys(_planet_of(mission) for mission in candidates))
    for planet_id in planets:
        free = Planet.objects.select_for_update(skip_locked=True, no_key=True).filter(pk=planet_id)
        if free.exists():
            return planet_id
    return None


def _planet_of(mission: ProbeMission) -> int:
    return mission.target_id if mission.status == Status.OUTBOUND else mission.origin_id


def _event_time(mission: ProbeMission) -> tuple[datetime, int]:
    at = mission.arrive_at if mission.status == Status.OUTBOUND else mission.return_at
    return at, mission.pk


def _pending(planet_ids: list[int], until: datetime) -> QuerySet[ProbeMission]:
    """The missions with an event on these planets due by `until`, locked (after the planets).

    Every timeline run sends it, a fleet's too, where it nearly always finds nothing: it is
    compiled once per process (galactic.db.CompiledQuery), and reads the missions alone, as
    joining their owners and origins would cost PostgreSQL as much again (_with_owners_and_origins
    reads those when there are missions)."""
    outbound = Q(status=Status.OUTBOUND) & (
        Q(target_id__any_of=planet_ids, arrive_at__lte=until)
        | Q(origin_id__any_of=planet_ids, return_at__lte=until)
    )
    returning = Q(status=Status.RETURNING, origin_id__any_of=planet_ids, return_at__lte=until)
    return ProbeMission.objects.select_for_update(no_key=True).filter(outbound | returning).order_by("pk")


_PENDING = CompiledQuery(_pending, list, datetime)


def _with_owners_and_origins(missions: list[ProbeMission]) -> list[ProbeMission]:
    """The missions with their owners and origin planets attached (read, not locked: the events
    use the owner's technology and the origin's coordinates), in one query each for all of them."""
    if missions:
        owners = Player.objects.in_bulk({mission.owner_id for mission in missions})
        origins = Planet.objects.in_bulk({mission.origin_id for mission in missions})
        for mission in missions:
            mission.owner, mission.origin = owners[mission.owner_id], origins[mission.origin_id]
    return missions


class ProbeEvents:
    """Probe arrivals and returns as events of the game's timeline (galactic.timeline). Rows are
    locked after the planets; each event writes its own rows (probes are few)."""

    kinds = (ARRIVAL, RETURN)
    job_prefixes = {ARRIVAL: MISSION_JOB_PREFIX, RETURN: MISSION_JOB_PREFIX}  # one budget per mission
    RETURN_RANK, ARRIVAL_RANK = 2, 4  # at one instant: respawns, fleet returns, probe returns, arrivals

    def __init__(self) -> None:
        self.missions: dict[int, ProbeMission] = {}
        self.counts = AdvanceCounts()

    def feeders(self, planet_ids: list[int], until: datetime) -> QuerySet:
        outbound = ProbeMission.objects.filter(status=Status.OUTBOUND, return_at__lte=until)
        return outbound.filter(origin_id__any_of=planet_ids).values_list("target_id")

    def load(self, planet_ids: set[int], run: Run) -> Iterable[Event]:
        for mission in _with_owners_and_origins(_PENDING.fetch(list(planet_ids), run.until)):
            mission = self.missions.setdefault(mission.pk, mission)
            yield self._event(mission)

    def _event(self, mission: ProbeMission) -> Event:
        if mission.status == Status.OUTBOUND:
            return Event(
                mission.arrive_at, self.ARRIVAL_RANK, mission.pk, ARRIVAL, mission.target_id, mission
            )
        return Event(mission.return_at, self.RETURN_RANK, mission.pk, RETURN, mission.origin_id, mission)

    def apply(self, event: Event, run: Run) -> Iterable[Event]:
        mission: ProbeMission = event.row
        planet = run.planets[event.planet_id]
        if event.kind == RETURN:
            _land(mission, planet, self.counts)
            return []
        npc = run.kind(NpcBases).base_at(planet.pk)
        _arrive(mission, planet, npc, self.counts)
        return [self._event(mission)] if mission.status == Status.RETURNING else []

    def flush(self, run: Run) -> None:
        pass  # each event wrote its own rows


def _land(mission: ProbeMission, origin: Planet, counts: AdvanceCounts) -> None:
    origin.settle(mission.return_at)
    origin.add({PROBE: mission.count})
    mission.status = Status.COMPLETED
    mission.save(update_fields=["status"])
    counts.returned += 1


def _technologies(
    mission: ProbeMission, target: Planet, npc: NpcBase | None
) -> tuple[dict[str, int], dict[str, int]]:
    """The sender's technology and the target's (an NPC base's, its owner's, or none at all)."""
    if npc is not None:
        defender = npc.technology
    elif target.owner is not None:
        defender = target.owner.technology
    else:
        defender = dict.fromkeys(TECHNOLOGIES, 0)
    return mission.owner.technology, defender


def _arrive(mission: ProbeMission, target: Planet, npc: NpcBase | None, counts: AdvanceCounts) -> None:
    """Spy on the (locked) target at the arrival time, maybe get discovered and fight, report."""
    target.settle(mission.arrive_at)
    attacker_tech, defender_tech = _technologies(mission, target, npc)
    att, dfn = attacker_tech["espionage"], defender_tech["espionage"]
    sections = espionage.sections_revealed(mission.count, att, dfn)
    # What the probes saw, before any skirmish.
    data = _espionage_data(target, sections, defender_tech)
    chance = espionage.discovery_chance(mission.count, sum(target.ships.values()), att, dfn)
    rng = random.Random(battle_seed("probe-discovery", mission.pk, mission.arrive_at.isoformat()))
    discovered = espionage.is_discovered(chance, rng)
    data.update(probes=mission.count, discovered=discovered, discovery_chance=chance)
    forces = None
    if discovered:
        forces = battle_forces({PROBE: mission.count}, attacker_tech, target.ships, {}, defender_tech)
        data["battle"] = _skirmish(mission, target, forces)
    mission.report = Report.objects.create(
        kind=Report.Kind.ESPIONAGE,
        at=mission.arrive_at,
        attacker=mission.owner,
        defender=target.owner if discovered else None,
        target=target,
        data=data,
        forces=forces,
    )
    if discovered and target.owner is not None:
        _notify(mission, target, chance)
    mission.discovered, mission.discovery_chance = discovered, chance
    mission.status = Status.RETURNING if mission.count > 0 else Status.DESTROYED
    mission.save(update_fields=["report", "discovered", "discovery_chance", "status", "count"])
    counts.arrived += 1
    counts.discovered += discovered
    counts.destroyed += mission.status == Status.DESTROYED


def _espionage_data(target: Planet, sections: list[str], defender_tech: dict[str, int]) -> dict:
    data: dict = {"accuracy": espionage.accuracy(sections), "sections": sections}
    data["resources"] = target.resources
    if "ships" in sections:
        data["ships"] = target.ships
    if "defences" in sections:
        data["defences"] = target.defences
    if "technology" in sections:
        data["technology"] = dict(defender_tech)
    return data


def _skirmish(mission: ProbeMission, target: Planet, forces: dict) -> dict:
    """Discovered probes fight the target's ships (never its defences); the target's ship losses
    are applied to the locked planet and the survivors left in `mission.count`."""
    seed = battle_seed("probe", mission.pk, mission.arrive_at.isoformat())
    result = resolve_battle(*forces_sides(forces), seed=seed)
    for name in target.ships:
        setattr(target, name, result.defender_ships.get(name, 0))
    mission.count = result.attacker_survivors.get(PROBE, 0)
    return {
        "outcome": result.outcome,
        "rounds": result.rounds,
        "seed": seed,
        "losses": {"attacker": result.attacker_losses, "defender": result.defender_losses},
        "debris": result.debris,
    }


def _notify(mission: ProbeMission, target: Planet, chance: int) -> None:
    Notice.objects.create(
        player=target.owner,
        at=mission.arrive_at,
        chance=chance,
        probe_mission=mission,
        text=(
            f"{mission.launched} espionage probe(s) from {mission.origin.coords} were discovered spying on "
            f"{target.name} [{target.coords}] (chance of discovery {chance}%)"
        ),
    )


# --- failure isolation: a mission that fails never stalls the others --------------------------------
# A planet's events are applied in game-time order, so a batch fails when one of its events does.
# Its planet is then advanced again one instant at a time (galactic.timeline's stepwise runs): the
# missions of the instant that fails are set aside and counted against their own attempt budgets
# (galactic.events.attempts); every other event of the planet is applied. A quarantined mission is
# set aside by every run until an operator releases it.


def _isolate(planet_id: int, now: datetime) -> AdvanceCounts:
    """After a failed batch on this planet: advance it stepwise, and count the missions that fail."""
    error = traceback.format_exc()
    logger.warning("probe:update: a batch on planet %s failed; isolating the failing mission", planet_id)
    try:
        run = timeline.advance(planet_ids=[planet_id], until=now, stepwise=True)
    except Exception:  # not one mission's fault: the planet waits for the next run
        logger.warning(
            "probe:update: planet %s failed again; left for the next run", planet_id, exc_info=True
        )
        return AdvanceCounts()
    failed = sorted({pk for kind, pk in run.set_aside if kind in ProbeEvents.kinds})
    for mission in ProbeMission.objects.filter(pk__in=failed).order_by("pk"):
        attempts.note_failure(
            queue.get_connection(),
            f"{MISSION_JOB_PREFIX}{mission.pk}",
            func=MISSION_JOB,
            args=[mission.pk],
            due=_event_time(mission)[0],
            error=error,
        )
    kinds = [event.kind for event in run.applied]
    return AdvanceCounts(arrived=kinds.count(ARRIVAL), returned=kinds.count(RETURN))


def _quarantined_missions() -> list[int]:
    return [int(job_id.rsplit("-", 1)[1]) for job_id in attempts.quarantined_ids(MISSION_JOB_PREFIX)]


def probe_mission_advance(mission_id: int, *, now: datetime) -> bool:
    """Advance the planet of one mission, if the mission is due (an operator's release of a
    quarantined mission). False when it is not due (any more): nothing to do."""
    mission = ProbeMission.objects.filter(_due(now), pk=mission_id).first()
    if mission is None:
        return False
    with transaction.atomic():
        planet_id = _planet_of(mission)
        Planet.objects.select_for_update(no_key=True).filter(pk=planet_id).exists()
        timeline.advance(planet_ids=[planet_id], until=now)
    return True
