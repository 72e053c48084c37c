"""Battles at a planet, NPC defeat and respawn, and the reports they write.

`battle_at_planet` and `npc_defeat` run inside the caller's transaction, on rows the caller has
locked (the fleet arrival owns the transaction and the lock order). `npc_respawn` is a job's
service and owns its own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
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
from galactic.flight import cargo_capacity
from galactic.models import Planet, Player


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
    if npc is not None and npc.state == NpcBase.State.DEFEATED:
        result = None
        survivors, outcome = dict(ships), "attacker"
    else:
        tech = npc.technology if npc else target.owner.technology
        result = resolve_battle(
            Side(ships=ships, weapons=attacker.weapons, shielding=attacker.shielding, armour=attacker.armour),
            Side(ships=_present(target.ships), defences=_present(target.defences), **_combat_tech(tech)),
            seed=seed,
        )
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
    )
    return BattleOutcome(report=report, survivors=survivors, loot=taken, defeated_npc=defeated_npc)


def _present(counts: dict[str, int]) -> dict[str, int]:
    return {name: count for name, count in counts.items() if count > 0}


def _combat_tech(tech: dict[str, int]) -> dict[str, int]:
    return {"weapons": tech["weapons"], "shielding": tech["shielding"], "armour": tech["armour"]}


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


def npc_defeat(*, npc: NpcBase, at: datetime) -> None:
    """Mark a locked NPC base defeated and schedule its respawn after the tier's delay / GAME_SPEED."""
    hours = TEMPLATES[npc.tier].respawn_hours
    npc.state = NpcBase.State.DEFEATED
    npc.defeated_at = at
    npc.respawn_at = at + timedelta(seconds=hours * 3600 / settings.GAME_SPEED)
    npc.save(update_fields=["state", "defeated_at", "respawn_at"])
    schedules.schedule_respawn(npc)


def npc_respawn(*, npc_id: int) -> bool:
    """Restore a defeated NPC base's ships and defences to its tier template; its stock keeps what
    was left (and what it produced meanwhile).

    Locks the planet, then the base. Idempotent: a base that is not defeated is left alone, so a
    duplicate or stale job changes nothing. Returns True when it respawned the base.
    """
    with transaction.atomic():
        # Lock order everywhere: planet before its NPC base (a fleet arrival does the same).
        planet_id = NpcBase.objects.filter(pk=npc_id).values_list("planet_id", flat=True).first()
        if planet_id is None:
            return False
        planet = Planet.objects.select_for_update(no_key=True).get(pk=planet_id)
        npc = NpcBase.objects.select_for_update(no_key=True).get(pk=npc_id)
        if npc.state != NpcBase.State.DEFEATED:
            return False
        planet.settle(npc.respawn_at)
        template = TEMPLATES[npc.tier]
        for name in planet.ships:
            setattr(planet, name, template.ships.get(name, 0))
        for name in planet.defences:
            setattr(planet, name, template.defences.get(name, 0))
        planet.save()
        npc.state = NpcBase.State.ACTIVE
        npc.defeated_at = None
        npc.respawn_at = None
        npc.save(update_fields=["state", "defeated_at", "respawn_at"])
    return True


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
