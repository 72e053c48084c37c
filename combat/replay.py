"""Replaying a battle from its report: the engine fed the stored starting forces and seed must give
the recorded outcome, rounds and losses (reports keep what a replay needs, RULES.md "Combat")."""

from __future__ import annotations

from dataclasses import dataclass

from combat.engine import resolve_battle
from combat.models import Report
from combat.services import forces_sides


class NotReplayable(ValueError):
    pass


@dataclass(frozen=True)
class Replay:
    report: Report
    seed: int
    recorded: dict  # outcome, rounds, losses as the report has them
    replayed: dict  # the same, from the engine

    @property
    def mismatches(self) -> list[str]:
        return [name for name in self.recorded if self.recorded[name] != self.replayed[name]]

    @property
    def matches(self) -> bool:
        return not self.mismatches


def battle_replay(report: Report) -> Replay:
    """Re-run the battle of a report (a battle, or an espionage report's skirmish).

    Raises NotReplayable when the report records no battle, or was written before reports kept
    their starting forces.
    """
    battle = report.data.get("battle") if report.kind == Report.Kind.ESPIONAGE else report.data
    if report.kind == Report.Kind.DELIVERY or not battle:
        raise NotReplayable(f"report {report.pk} ({report.kind}) records no battle")
    if report.forces is None:
        why = (
            "no battle was fought (a defeated base: loot only)"
            if battle.get("rounds") == 0
            else ("it was written before reports kept their starting forces")
        )
        raise NotReplayable(f"report {report.pk} cannot be replayed: {why}")
    result = resolve_battle(*forces_sides(report.forces), seed=battle["seed"])
    replayed = {
        "outcome": result.outcome,
        "rounds": result.rounds,
        "losses": {"attacker": result.attacker_losses, "defender": result.defender_losses},
    }
    recorded = {name: battle.get(name) for name in replayed}
    return Replay(report=report, seed=battle["seed"], recorded=recorded, replayed=replayed)
