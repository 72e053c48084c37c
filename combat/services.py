"""Battles at a planet, NPC defeat and respawn, and the reports they write.

`battle_at_planet` and `npc_defeat` run inside the caller's transaction, on rows the caller has
locked (the fleet arrival owns the transaction and the lock order). Respawns are events of the
game's timeline (`NpcBases`, registered in apps.py): `npc_respawn` is the job's service, and any
other event on the base's planet applies a respawn that is due first, so a base whose respawn
time has passed always fights with its restored garrison, however late the respawn job runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from combat import schedules
from combat.engine import BattleResult, Side, resolve_battle
from combat.loot import cargo_room, loot
from combat.models import NpcBase, Report
from combat.npc import TEMPLATES
from galactic import timeline
from galactic.db import CompiledQuery
from galactic.flight import cargo_capacity
from galactic.models import Planet, Player
from galactic.timeline import Event, Run


def battle_seed(*parts: object) -> int:
    """A seed derived from the event itself, so a retried or duplicated job fights the same battle."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


@dataclass(frozen=True)
class BattleOutcome:
    report: Report
    survivors: dict[str, int]
    loot: dict[str, int]
    defeated_npc: bool


def battle_at_planet(
    *,
    attacker: Player,
    ships: dict[str, int],
    carried: dict[str, int],
    target: Planet,
    npc: NpcBase | None,
    at: datetime,
    seed: int,
) -> BattleOutcome:
    """Fight the target's ships and defences, apply its losses, take the loot, and make the report
    (not yet saved: the caller saves it, with the reports of the other arrivals in its batch).

    `target` (and `npc`, if any) must be locked and settled to `at` by the caller. A defeated NPC
    base offers no battle: the attacker takes the loot alone.
    """
    forces = None
    if npc is not None and npc.state == NpcBase.State.DEFEATED:
        result = None
        survivors, outcome = dict(ships), "attacker"
    else:
        tech = npc.technology if npc else target.owner.technology
        forces = battle_forces(ships, attacker.technology, target.ships, target.defences, tech)
        result = resolve_battle(*forces_sides(forces), seed=seed)
        survivors, outcome = result.attacker_survivors, result.outcome
        _apply_defender_losses(target, result)

    taken = {"metal": 0, "crystal": 0, "deuterium": 0}
    if outcome == "attacker" and survivors:
        room = cargo_room(cargo_capacity(survivors), carried)
        taken = loot(room, target.metal, target.crystal, target.deuterium)
        target.add(taken, sign=-1)

    defeated_npc = npc is not None and npc.state == NpcBase.State.ACTIVE and outcome == "attacker"
    report = Report(
        kind=Report.Kind.BATTLE,
        at=at,
        attacker=attacker,
        defender=target.owner,
        target=target,
        data=_battle_data(result, outcome, seed, ships, taken),
        forces=forces,
    )
    return BattleOutcome(report=report, survivors=survivors, loot=taken, defeated_npc=defeated_npc)


def _present(counts: dict[str, int]) -> dict[str, int]:
    return {name: count for name, count in counts.items() if count > 0}


def combat_tech(tech: dict[str, int]) -> dict[str, int]:
    """The levels a battle uses (espionage plays no part in it)."""
    return {"weapons": tech["weapons"], "shielding": tech["shielding"], "armour": tech["armour"]}


def battle_forces(
    ships: dict[str, int],
    attacker_tech: dict[str, int],
    defender_ships: dict[str, int],
    defender_defences: dict[str, int],
    defender_tech: dict[str, int],
) -> dict:
    """Both sides' starting forces and technology levels, as a report keeps them: with the seed,
    all a replay needs (Report.forces)."""
    return {
        "attacker": {"ships": _present(ships), "defences": {}, "technology": combat_tech(attacker_tech)},
        "defender": {
            "ships": _present(defender_ships),
            "defences": _present(defender_defences),
            "technology": combat_tech(defender_tech),
        },
    }


def forces_sides(forces: dict) -> tuple[Side, Side]:
    """The engine's two sides for stored forces (see battle_forces)."""
    return tuple(
        Side(ships=side["ships"], defences=side["defences"], **side["technology"])
        for side in (forces["attacker"], forces["defender"])
    )


def _apply_defender_losses(target: Planet, result: BattleResult) -> None:
    for name in target.ships:
        setattr(target, name, result.defender_ships.get(name, 0))
    for name in target.defences:
        setattr(target, name, result.defender_defences.get(name, 0))


def _battle_data(
    result: BattleResult | None, outcome: str, seed: int, ships: dict[str, int], taken: dict[str, int]
) -> dict:
    if result is None:  # a defeated NPC base: loot only
        return {
            "outcome": outcome,
            "rounds": 0,
            "round_log": [],
            "seed": seed,
            "attacker_ships": ships,
            "losses": {"attacker": {}, "defender": {}},
            "rebuilt": {},
            "loot": taken,
            "debris": {"metal": 0, "crystal": 0},
        }
    return {
        "outcome": outcome,
        "rounds": result.rounds,
        "round_log": result.round_log,
        "seed": seed,
        "attacker_ships": ships,
        "losses": {"attacker": result.attacker_losses, "defender": result.defender_losses},
        "rebuilt": result.rebuilt,
        "loot": taken,
        "debris": result.debris,
    }


def npc_defeat(*, npc: NpcBase, at: datetime) -> Event:
    """Mark a locked NPC base defeated and schedule its respawn after the tier's delay / GAME_SPEED.
    Returns the respawn event, for the caller's timeline run."""
    hours = TEMPLATES[npc.tier].respawn_hours
    npc.state = NpcBase.State.DEFEATED
    npc.defeated_at = at
    npc.respawn_at = at + timedelta(seconds=hours * 3600 / settings.GAME_SPEED)
    npc.save(update_fields=["state", "defeated_at", "respawn_at"])
    schedules.schedule_respawn(npc)
    return NpcBases.respawn_event(npc)


RESPAWN = "npc-respawn"
# The NPC bases on these planets, locked (after the planets): compiled once per process
# (galactic.db.CompiledQuery), as every attack on a base sends it.
_LOCK_BASES = CompiledQuery(
    lambda planet_ids: (
        NpcBase.objects.select_for_update(no_key=True).filter(planet_id__any_of=planet_ids).order_by("pk")
    ),
    list,
)


class NpcBases:
    """The NPC bases of a timeline run's planets, and their respawn events.

    Their rows are locked after the planets; the fleet and probe kinds read them (`base_at`).
    """

    kinds = (RESPAWN,)
    RANK = 0  # at one instant, a respawn comes before any arrival: the base fights restored

    def __init__(self) -> None:
        self.bases: dict[int, NpcBase] = {}  # by planet id

    @classmethod
    def respawn_event(cls, npc: NpcBase) -> Event:
        return Event(npc.respawn_at, cls.RANK, npc.pk, RESPAWN, npc.planet_id, npc)

    def base_at(self, planet_id: int) -> NpcBase | None:
        return self.bases.get(planet_id)

    def load(self, planet_ids: set[int], run: Run) -> Iterable[Event]:
        unowned = [pk for pk in planet_ids if run.planets[pk].owner_id is None]
        if not unowned:
            return []
        self.bases.update((npc.planet_id, npc) for npc in _LOCK_BASES.fetch(unowned))
        return [
            self.respawn_event(npc)
            for npc in self.bases.values()
            if npc.state == NpcBase.State.DEFEATED and npc.respawn_at <= run.until
        ]

    def apply(self, event: Event, run: Run) -> Iterable[Event]:
        """Restore the base's ships and defences to its tier template; its stock keeps what was
        left (and what it produced meanwhile)."""
        npc: NpcBase = event.row
        if npc.state != NpcBase.State.DEFEATED or npc.respawn_at != event.at:
            return []
        planet = run.planets[npc.planet_id]
        planet.settle(event.at)
        template = TEMPLATES[npc.tier]
        for name in planet.ships:
            setattr(planet, name, template.ships.get(name, 0))
        for name in planet.defences:
            setattr(planet, name, template.defences.get(name, 0))
        npc.state = NpcBase.State.ACTIVE
        npc.defeated_at = None
        npc.respawn_at = None
        npc.save(update_fields=["state", "defeated_at", "respawn_at"])
        return []

    def flush(self, run: Run) -> None:
        pass  # apply saved the rare rows it changed


def npc_respawn(*, npc_id: int) -> bool:
    """npc:respawn. Advance the base's planet to its respawn time (galactic.timeline): the events
    due there before it, then the respawn.

    Idempotent: a base that is not defeated is left alone. A job that comes before the base's
    respawn time (it was beaten again since, and this is the older job) does nothing: the
    reconciliation schedules the new time, and any event on the base applies the respawn first
    anyway. Returns True when it respawned the base.
    """
    row = NpcBase.objects.filter(pk=npc_id, state=NpcBase.State.DEFEATED).values("planet_id", "respawn_at")
    due = row.first()
    if due is None or due["respawn_at"] > timezone.now():
        return False
    run = timeline.advance(planet_ids=[due["planet_id"]], until=due["respawn_at"], own=[(RESPAWN, npc_id)])
    return (RESPAWN, npc_id) in run.applied_keys()


def report_mark_read(*, report: Report, player_id: int, at: datetime) -> None:
    """Note that the player opened the report (as its sender and/or as the target's owner).
    Idempotent: the first reading's time is kept. No lock needed: one conditional UPDATE each."""
    for role in ("attacker", "defender"):
        if getattr(report, f"{role}_id") == player_id and getattr(report, f"{role}_read_at") is None:
            Report.objects.filter(pk=report.pk, **{f"{role}_read_at__isnull": True}).update(
                **{f"{role}_read_at": at}
            )


NPC_POSITIONS = (2, 9, 14)  # home planets take even positions; NPC bases never collide with them


def npc_seed(*, count: int, progress: Callable[[int, int], None] | None = None) -> list[NpcBase]:
    """Make sure `count` NPC bases exist, tiers 1, 2, 3 in turn, at fixed places from 1:1.

    Idempotent: running it again with the same count creates nothing. Returns the first `count`
    bases (all of them if fewer could be placed: the universe is finite). `progress(created, missing)`
    is called after each base it creates.
    """
    if count < 0:
        raise ValueError("count must not be negative")
    with transaction.atomic():
        existing = NpcBase.objects.count()
        missing, created = max(0, count - existing), 0
        places = ((g, s, p) for g in range(1, 10) for s in range(1, 500) for p in NPC_POSITIONS)
        taken = set(Planet.objects.values_list("galaxy", "system", "position"))
        for galaxy, system, position in places:
            if existing >= count:
                break
            if (galaxy, system, position) in taken:
                continue
            _npc_create(galaxy, system, position, tier=existing % 3 + 1)
            existing += 1
            created += 1
            if progress:
                progress(created, missing)
    return list(NpcBase.objects.select_related("planet").order_by("pk")[:count])


def _npc_create(galaxy: int, system: int, position: int, *, tier: int) -> NpcBase:
    template = TEMPLATES[tier]
    planet = Planet.objects.create(
        name=f"NPC outpost (tier {tier})",
        galaxy=galaxy,
        system=system,
        position=position,
        resources_at=timezone.now(),
        **template.stock,
        **{f"{name}_per_hour": rate for name, rate in template.production.items()},
        **template.ships,
        **template.defences,
    )
    return NpcBase.objects.create(planet=planet, tier=tier, **template.technology)
