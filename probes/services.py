"""Every write on probe missions: dispatch, and probe:update (arrivals with their espionage
report, discovery and its skirmish, returns).

Lock order, as everywhere in the game: the mission(s) by primary key, then planets by primary key.
NPC bases are only read here (their espionage and combat levels), never locked.

Who may read an espionage report: the sender always (`attacker`). The spied planet's owner
(`defender`) only when the probes were discovered: an unseen spy leaves no trace, while a
discovered one has fought the owner's ships, and the owner holds a notice pointing at it.
"""

from __future__ import annotations

import logging
import random
import traceback
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Q

from combat.engine import Side, resolve_battle
from combat.models import NpcBase, Report
from combat.services import battle_seed
from galactic.errors import Conflict, Invalid, NotFound
from galactic.events import attempts, queue
from galactic.flight import SPEED_PERCENTS
from galactic.models import Planet, Player
from galactic.services import planet_launch
from galactic.ships import PROBE, TECHNOLOGIES
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


def _due(now: datetime) -> Q:
    return Q(status=Status.OUTBOUND, arrive_at__lte=now) | Q(status=Status.RETURNING, return_at__lte=now)


def probe_missions_advance(*, now: datetime, batch_size: int = BATCH_SIZE) -> dict[str, int]:
    """probe:update. Advance every mission due at `now`: arrivals (espionage report, discovery and
    skirmish, notice), then, in a later batch, returns (probes land on the origin).

    Works in batches of `batch_size`, each its own transaction: it locks the due missions with
    SKIP LOCKED (so two overlapping runs never take the same mission, and neither waits for the
    other's missions), then the planets they touch, by primary key. A planet locked by another run
    is waited for, for at most one batch of that run. Idempotent: the status is re-checked on the
    locked row, so each arrival and each return happens exactly once. Schedules nothing.
    A mission that fails is left out of this run (the others advance) and counted against its own
    attempt budget; once spent, it is quarantined and left out of every run until an operator
    releases it (see _advance_isolated).
    Returns counts: batches, arrived, discovered, destroyed, returned.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    total = AdvanceCounts()
    left_out = {int(job_id.rsplit("-", 1)[1]) for job_id in attempts.quarantined_ids(MISSION_JOB_PREFIX)}
    while True:
        counts = _advance_batch(now, batch_size, left_out)
        if counts is None:
            return total.as_dict()
        total.add(counts)


def _advance_batch(now: datetime, batch_size: int, left_out: set[int]) -> AdvanceCounts | None:
    """One batch in one transaction; None when nothing (unlocked) is due any more. Missions that
    fail are added to `left_out`."""
    with transaction.atomic():
        missions = list(
            ProbeMission.objects.select_for_update(skip_locked=True, of=("self",), no_key=True)
            .select_related("owner", "origin")
            .filter(_due(now))
            .exclude(pk__in=left_out)
            .order_by("pk")[:batch_size]
        )
        if not missions:
            return None
        planets = _lock_planets(missions)
        counts = AdvanceCounts(batches=1)
        # Planets are settled forwards only: handle events in the order they happened.
        for mission in sorted(missions, key=_event_time):
            if not _advance_isolated(mission, planets, counts):
                left_out.add(mission.pk)
    return counts


# --- failure isolation: one mission that fails never stalls the others --------------------------------

MISSION_JOB_PREFIX = "probe-mission-"  # the id a mission's attempts and quarantine go under
MISSION_JOB = "probes.jobs.probe_mission"


def _advance_one(mission: ProbeMission, planets: dict[int, Planet], counts: AdvanceCounts) -> Planet:
    """Arrive or land one (locked) mission on its (locked) planet; returns that planet."""
    if mission.status == Status.OUTBOUND:
        planet = planets[mission.target_id]
        _arrive(mission, planet, counts)
    else:
        planet = planets[mission.origin_id]
        _land(mission, planet, counts)
    return planet


def _advance_isolated(mission: ProbeMission, planets: dict[int, Planet], counts: AdvanceCounts) -> bool:
    """Advance one mission in a savepoint of its own, saving its planet with it. If it fails, its
    writes are undone, its planet is read back (with what the missions before it saved), and the
    failure is counted against its budget. A lost connection fails the whole run, as before: an
    outage is not the mission's fault. True when it advanced."""
    own = AdvanceCounts()
    planet = planets[mission.target_id if mission.status == Status.OUTBOUND else mission.origin_id]
    try:
        with transaction.atomic():
            _advance_one(mission, planets, own)
            planet.save()
    except Exception as error:
        if attempts.is_transient(error):
            raise
        planet.refresh_from_db()
        at = mission.arrive_at if mission.status == Status.OUTBOUND else mission.return_at
        attempts.note_failure(
            queue.get_connection(),
            f"{MISSION_JOB_PREFIX}{mission.pk}",
            func=MISSION_JOB,
            args=[mission.pk],
            due=at,
            error=traceback.format_exc(),
        )
        logger.warning("probe:update: mission %s failed; the others go on", mission.pk, exc_info=True)
        return False
    counts.add(own)
    return True


def probe_mission_advance(mission_id: int, *, now: datetime) -> bool:
    """Advance one mission if it is due (an operator's release of a quarantined mission). False
    when it is not due (any more): nothing to do."""
    with transaction.atomic():
        mission = (
            ProbeMission.objects.select_for_update(of=("self",), no_key=True)
            .select_related("owner", "origin")
            .filter(_due(now), pk=mission_id)
            .first()
        )
        if mission is None:
            return False
        _advance_one(mission, _lock_planets([mission]), AdvanceCounts()).save()
    return True


def _event_time(mission: ProbeMission) -> tuple[datetime, int]:
    at = mission.arrive_at if mission.status == Status.OUTBOUND else mission.return_at
    return at, mission.pk


def _lock_planets(missions: list[ProbeMission]) -> dict[int, Planet]:
    ids = {m.target_id if m.status == Status.OUTBOUND else m.origin_id for m in missions}
    locked = (
        Planet.objects.select_for_update(of=("self",), no_key=True)  # see galactic.services.planet_launch
        .select_related("owner", "npc")
        .filter(pk__in=ids)
        .order_by("pk")
    )
    return {planet.pk: planet for planet in locked}


def _land(mission: ProbeMission, origin: Planet, counts: AdvanceCounts) -> None:
    origin.settle(mission.return_at)
    origin.add({PROBE: mission.count})
    mission.status = Status.COMPLETED
    mission.save(update_fields=["status"])
    counts.returned += 1


def _technologies(mission: ProbeMission, target: Planet) -> tuple[dict[str, int], dict[str, int]]:
    """The sender's technology and the target's (an NPC base's, its owner's, or none at all)."""
    npc: NpcBase | None = getattr(target, "npc", None)
    if npc is not None:
        defender = npc.technology
    elif target.owner is not None:
        defender = target.owner.technology
    else:
        defender = dict.fromkeys(TECHNOLOGIES, 0)
    return mission.owner.technology, defender


def _arrive(mission: ProbeMission, target: Planet, counts: AdvanceCounts) -> None:
    """Spy on the (locked) target at the arrival time, maybe get discovered and fight, report."""
    target.settle(mission.arrive_at)
    attacker_tech, defender_tech = _technologies(mission, target)
    att, dfn = attacker_tech["espionage"], defender_tech["espionage"]
    sections = espionage.sections_revealed(mission.count, att, dfn)
    # What the probes saw, before any skirmish.
    data = _espionage_data(target, sections, defender_tech)
    chance = espionage.discovery_chance(mission.count, sum(target.ships.values()), att, dfn)
    rng = random.Random(battle_seed("probe-discovery", mission.pk, mission.arrive_at.isoformat()))
    discovered = espionage.is_discovered(chance, rng)
    data.update(probes=mission.count, discovered=discovered, discovery_chance=chance)
    if discovered:
        data["battle"] = _skirmish(mission, target, attacker_tech, defender_tech)
    mission.report = Report.objects.create(
        kind=Report.Kind.ESPIONAGE,
        at=mission.arrive_at,
        attacker=mission.owner,
        defender=target.owner if discovered else None,
        target=target,
        data=data,
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


def _skirmish(
    mission: ProbeMission, target: Planet, attacker_tech: dict[str, int], defender_tech: dict[str, int]
) -> dict:
    """Discovered probes fight the target's ships (never its defences); the target's ship losses
    are applied to the locked planet and the survivors left in `mission.count`."""
    seed = battle_seed("probe", mission.pk, mission.arrive_at.isoformat())
    result = resolve_battle(
        Side(ships={PROBE: mission.count}, **_combat_tech(attacker_tech)),
        Side(ships={name: n for name, n in target.ships.items() if n > 0}, **_combat_tech(defender_tech)),
        seed=seed,
    )
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


def _combat_tech(tech: dict[str, int]) -> dict[str, int]:
    return {"weapons": tech["weapons"], "shielding": tech["shielding"], "armour": tech["armour"]}


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
