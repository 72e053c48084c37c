"""Game time is the truth: the universe after a set of due events does not depend on the order,
the batching or the repetition of the jobs that apply them.

Hypothesis builds small universes (three players, an NPC base of each tier, attacks, transports,
probe missions, fleets landing on one planet in the same second, respawns falling due between
attacks, recall attempts), all due in the past. The same events are then applied
(a) one by one in due order, the reference; (b) in a random order; (c) in random batches through
fleet_arrive_many / fleet_return_many; (d) in a random order with every job run twice, and every
job run once more at the end (stale duplicates). Each way must leave the universe of (a): stocks,
ships, fleets, probe missions, NPC bases, reports and notices. (a) must also balance its ledger
to the unit: every planet holds exactly its start, its production, and what came and went.

The services run in-process in one database transaction per universe, rolled back after each
way (no worker, no Redis: jobs are scheduled on commit, and nothing commits here).
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from combat.jobs import npc_respawn
from combat.models import NpcBase, Report
from combat.services import npc_seed
from fleets import services as fleets
from fleets.models import Fleet
from galactic.errors import Conflict
from galactic.models import Planet, Player
from galactic.services import player_create
from galactic.ships import RESOURCES
from probes.models import Notice, ProbeMission
from probes.services import probe_dispatch, probe_missions_advance

pytestmark = pytest.mark.django_db

PLAYERS, TIERS = 3, 3
HOME_SHIPS = {  # enough for any ten fleets of the strategies below, and their fuel
    "light_fighter": 5_000,
    "heavy_fighter": 500,
    "cruiser": 5_000,
    "battleship": 5_000,
    "small_cargo": 500,
    "large_cargo": 500,
    "espionage_probe": 200,
    "deuterium": 10**7,
}
FRACTIONS_PER_UNIT = 3_600_000_000  # a rate per hour times microseconds
# A fixed past moment: battle seeds derive from arrival times, so an example replays exactly.
START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

attack_ships = st.fixed_dictionaries(
    {
        "battleship": st.integers(0, 120),
        "cruiser": st.integers(0, 80),
        "light_fighter": st.integers(0, 60),
        "large_cargo": st.integers(0, 10),
    }
).filter(lambda ships: sum(ships.values()) > 0)
# arrivals within 40 s, often in the same second or the very same instant
arrival = st.tuples(st.integers(0, 40), st.sampled_from([0, 0, 0, 250_000, 999_999]))


@st.composite
def fleet_orders(draw: st.DrawFn) -> dict:
    owner = draw(st.integers(0, PLAYERS - 1))
    target = draw(st.integers(0, PLAYERS + TIERS - 1).filter(lambda t: t != owner))
    mission = draw(st.sampled_from(["attack", "attack", "transport"]))
    if mission == "attack":
        ships, cargo = {name: n for name, n in draw(attack_ships).items() if n}, {}
    else:
        ships = {"small_cargo": draw(st.integers(1, 3))}
        cargo = {"metal": draw(st.integers(0, 2_500)), "crystal": draw(st.integers(0, 2_500))}  # one hold
    return {
        "owner": owner,
        "target": target,
        "mission": mission,
        "ships": ships,
        "cargo": cargo,
        "arrive": draw(arrival),
        "back": draw(st.integers(1, 20)),
        "recall": draw(st.booleans()),
    }


@st.composite
def probe_orders(draw: st.DrawFn) -> dict:
    owner = draw(st.integers(0, PLAYERS - 1))
    return {
        "owner": owner,
        "target": draw(st.integers(0, PLAYERS + TIERS - 1).filter(lambda t: t != owner)),
        "count": draw(st.integers(1, 6)),
        "arrive": draw(arrival),
        "back": draw(st.integers(1, 20)),
    }


universes = st.fixed_dictionaries(
    {
        "tech": st.lists(st.tuples(*[st.integers(0, 3)] * 4), min_size=PLAYERS, max_size=PLAYERS),
        "rates": st.lists(st.integers(0, 40_000), min_size=PLAYERS, max_size=PLAYERS),
        "fleets": st.lists(fleet_orders(), min_size=3, max_size=10),
        "probes": st.lists(probe_orders(), max_size=3),
    }
)


@dataclass(frozen=True, order=True)
class Job:
    """A job a worker may run: its due time and rank order the reference run (a)."""

    at: datetime
    rank: int
    pk: int
    kind: str


def restart_ids() -> None:
    """Every example's rows get the same ids (sequences do not roll back): battle seeds derive
    from fleet ids, so an example replays exactly when hypothesis runs it again."""
    models = (get_user_model(), Player, Planet, NpcBase, Fleet, ProbeMission, Report, Notice)
    with connection.cursor() as cursor:
        for model in models:
            table = model._meta.db_table
            cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), 100000, false)", [table])


def build(spec: dict, start: datetime) -> list[Job]:
    """Create the universe of `spec`, as if every mission had left at `start`; the recall attempts."""
    restart_ids()
    players = [player_create(username=f"p{i}", password="pw") for i in range(PLAYERS)]
    bases = npc_seed(count=TIERS)
    planets = [new.home.pk for new in players] + [npc.planet_id for npc in bases]
    for new, (weapons, shielding, armour, espionage) in zip(players, spec["tech"], strict=True):
        Player.objects.filter(pk=new.player.pk).update(
            weapons=weapons, shielding=shielding, armour=armour, espionage=espionage
        )
        # No production until every mission has left: the same stock in every run of the example.
        Planet.objects.filter(pk=new.home.pk).update(
            metal_per_hour=0, crystal_per_hour=0, deuterium_per_hour=0, **HOME_SHIPS
        )
    recalls = []
    for order in spec["fleets"]:
        new = players[order["owner"]]
        fleet = fleets.fleet_dispatch(
            player=Player.objects.get(pk=new.player.pk),
            origin_id=new.home.pk,
            target_id=planets[order["target"]],
            mission=order["mission"],
            ships=order["ships"],
            cargo=order["cargo"],
        )
        _set_times(Fleet, fleet.pk, start, order)
        if order["recall"]:
            recalls.append(Job(timezone.now() + timedelta(days=1), 9, fleet.pk, "recall"))
    for order in spec["probes"]:
        new = players[order["owner"]]
        mission = probe_dispatch(
            player=new.player, origin_id=new.home.pk, target_id=planets[order["target"]], count=order["count"]
        )
        _set_times(ProbeMission, mission.pk, start, order)
    Planet.objects.update(resources_at=start)  # the dispatches happened at `start`
    for new, rate in zip(players, spec["rates"], strict=True):
        Planet.objects.filter(pk=new.home.pk).update(
            metal_per_hour=rate, crystal_per_hour=rate // 2, deuterium_per_hour=rate // 3
        )
    return recalls


def _set_times(model: type, pk: int, start: datetime, order: dict) -> None:
    seconds, micros = order["arrive"]
    arrive = start + timedelta(seconds=seconds, microseconds=micros)
    model.objects.filter(pk=pk).update(
        depart_at=start, arrive_at=arrive, return_at=arrive + timedelta(seconds=order["back"])
    )


def pending() -> list[Job]:
    """Every event due in the database (as reconciliation would find them)."""
    jobs = []
    for pk, status, arrive_at, return_at in Fleet.objects.values_list(
        "pk", "status", "arrive_at", "return_at"
    ):
        if status == Fleet.Status.OUTBOUND:
            jobs.append(Job(arrive_at, 3, pk, "arrival"))
        elif status == Fleet.Status.RETURNING:
            jobs.append(Job(return_at, 1, pk, "return"))
    missions = ProbeMission.objects.values_list("pk", "status", "arrive_at", "return_at")
    for pk, status, arrive_at, return_at in missions:
        if status == ProbeMission.Status.OUTBOUND:
            jobs.append(Job(arrive_at, 4, pk, "probes"))
        elif status == ProbeMission.Status.RETURNING:
            jobs.append(Job(return_at, 2, pk, "probes"))
    for pk, respawn_at in NpcBase.objects.filter(state=NpcBase.State.DEFEATED).values_list(
        "pk", "respawn_at"
    ):
        jobs.append(Job(respawn_at, 0, pk, "respawn"))
    return jobs


def run(job: Job) -> None:
    """The job a worker would run for this event (probe:update, run at the event's time)."""
    if job.kind == "arrival":
        fleets.fleet_arrive(fleet_id=job.pk)
    elif job.kind == "return":
        fleets.fleet_return(fleet_id=job.pk)
    elif job.kind == "probes":
        probe_missions_advance(now=job.at, batch_size=2)
    elif job.kind == "respawn":
        npc_respawn(job.pk)
    else:  # a player's recall: refused once the fleet has arrived
        owner = Fleet.objects.get(pk=job.pk).owner
        with contextlib.suppress(Conflict):
            fleets.fleet_recall(fleet_id=job.pk, player=owner)


def drain(pick: Callable[[list[Job]], list[Job]], recalls: list[Job], twice: bool = False) -> None:
    """Run jobs until nothing is due: `pick` chooses the next job(s) among those due."""
    recalls, done = list(recalls), []
    for _ in range(1_000):
        due = sorted(pending() + recalls)
        if not due:
            break
        jobs = pick(due)
        _run_all(jobs)
        recalls = [job for job in recalls if job not in jobs]
        done += jobs
        if twice:
            _run_all(jobs)
    else:
        raise AssertionError("events keep falling due")
    if twice:
        for job in done:  # stale duplicates, long after
            run(job)


def _run_all(jobs: list[Job]) -> None:
    kinds = {job.kind for job in jobs}
    if len(jobs) > 1 and kinds == {"arrival"}:
        fleets.fleet_arrive_many([job.pk for job in jobs])
    elif len(jobs) > 1 and kinds == {"return"}:
        fleets.fleet_return_many([job.pk for job in jobs])
    else:
        for job in jobs:
            run(job)


def batches(rng: random.Random) -> Callable[[list[Job]], list[Job]]:
    """A random job, with a random number of other due jobs of its kind when it is batchable."""

    def pick(due: list[Job]) -> list[Job]:
        first = rng.choice(due)
        if first.kind not in ("arrival", "return"):
            return [first]
        same = [job for job in due if job.kind == first.kind and job != first]
        return [first, *rng.sample(same, rng.randint(0, len(same)))]

    return pick


def universe() -> dict:
    """Everything an event may change (row ids of reports and notices aside: sequences do not roll
    back between the runs)."""

    def planet(p: Planet) -> tuple:
        fractions = tuple(getattr(p, f"{name}_fraction", 0) for name in RESOURCES)
        return p.pk, p.resources, fractions, p.resources_at, p.ships, p.defences

    reports = Report.objects.values_list("kind", "at", "target_id", "attacker_id", "defender_id", "data")
    return {
        "planets": [planet(p) for p in Planet.objects.order_by("pk")],
        "fleets": list(
            Fleet.objects.order_by("pk").values_list(
                "pk",
                "status",
                "ships",
                "metal",
                "crystal",
                "deuterium",
                "arrive_at",
                "return_at",
                "report__at",
            )
        ),
        "probes": list(
            ProbeMission.objects.order_by("pk").values_list(
                "pk", "status", "count", "discovered", "report__at"
            )
        ),
        "npcs": list(NpcBase.objects.order_by("pk").values_list("pk", "state", "defeated_at", "respawn_at")),
        "reports": sorted(
            (kind, at, target, attacker, defender, json.dumps(data, sort_keys=True))
            for kind, at, target, attacker, defender, data in reports
        ),
        "notices": sorted(Notice.objects.values_list("player_id", "at", "chance", "probe_mission_id")),
    }


def in_savepoint(body: Callable[[], object]) -> object:
    """Run body() and return what it returns, then roll its changes back."""
    with transaction.atomic():
        result = body()
        transaction.set_rollback(True)
    return result


def ledger_residuals(before: dict, after: dict) -> dict[int, dict[str, int]]:
    """Per planet and resource, in 1/3,600,000,000 of a unit: what the planet holds, minus its
    start, its production to its last settlement, deliveries and landed cargo, plus loot taken.
    Zero when no event created or destroyed anything."""
    rates = {p.pk: p.production for p in Planet.objects.all()}
    flows = {pk: dict.fromkeys(RESOURCES, 0) for pk in rates}
    for report in Report.objects.filter(kind__in=("battle", "delivery")):
        taken = report.data.get("delivered") or {name: -n for name, n in report.data["loot"].items()}
        for name, amount in taken.items():
            flows[report.target_id][name] += amount
    for fleet in Fleet.objects.filter(status=Fleet.Status.COMPLETED):
        for name, amount in fleet.cargo.items():
            flows[fleet.origin_id][name] += amount
    residuals = {}
    for (pk, start, fractions, start_at, *_), (_, end, end_fractions, end_at, *_) in zip(
        before["planets"], after["planets"], strict=True
    ):
        micros = (end_at - start_at) // timedelta(microseconds=1)
        residuals[pk] = {
            name: end[name] * FRACTIONS_PER_UNIT
            + end_fractions[i]
            - (start[name] + flows[pk][name]) * FRACTIONS_PER_UNIT
            - fractions[i]
            - rates[pk][name] * micros
            for i, name in enumerate(RESOURCES)
        }
    return residuals


@hypothesis_settings(
    max_examples=10,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=universes, rng=st.randoms(use_true_random=False))
def test_any_order_batching_or_repetition_gives_the_universe_of_due_order(spec, rng, settings):
    settings.GAME_SPEED = 3_600  # respawns after 2, 4 and 8 s: due between the attacks
    with transaction.atomic():
        recalls = build(spec, start=START)
        start = universe()

        def reference() -> tuple[dict, dict]:
            drain(lambda due: due[:1], recalls)
            return universe(), ledger_residuals(start, universe())

        expected, residuals = in_savepoint(reference)
        assert all(not any(r.values()) for r in residuals.values()), residuals
        ways = {
            "random order": lambda: drain(lambda due: [rng.choice(due)], recalls),
            "random batches": lambda: drain(batches(rng), recalls),
            "every job twice": lambda: drain(lambda due: [rng.choice(due)], recalls, twice=True),
        }
        for name, way in ways.items():
            got = in_savepoint(lambda way=way: (way(), universe())[1])
            assert got == expected, f"{name} differs from due order"
        transaction.set_rollback(True)
