"""Game time: every event takes effect as of its own time, whatever order workers run them in.

Workers run events late (a backlog, a retry, an outage), several at once, in batches, in the order
they dequeue them. So no handler applies "its" event alone: it advances the planets the event
touches to the event's time, which applies every pending event of those planets due by then, in
game-time order, the handler's own among them. An event found already applied is skipped, so a
duplicate or a stale job changes nothing.

Which events come first on a planet P by time T: those that touch P (arrivals at P, returns to P,
the respawn of P's NPC base), and those that lead to one: a mission out of P that is due back by
T must first arrive at its target, which is then advanced too (its "feeder"). Events created on
the way (a return, a respawn) join the queue when they fall due by T on a locked planet.

The mission apps declare their events as kinds (`register`, in their AppConfig.ready), so this
module knows no mission. One run is one transaction: it locks every planet involved in key order
(the lock order of the whole game: planets first, then the mission and NPC rows on them), applies
the events to the locked rows in memory, and writes the planets back in one statement.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Protocol, TypeVar

from django.db import transaction
from django.db.models import QuerySet

from galactic.db import CompiledQuery, bulk_save
from galactic.models import Planet


@dataclass(frozen=True, order=True)
class Event:
    """A pending event, ordered by game time: its time, then its kind's rank, then its row's key."""

    at: datetime
    rank: int
    pk: int
    kind: str = field(compare=False)
    planet_id: int = field(compare=False)  # the planet it changes
    row: object = field(default=None, compare=False, repr=False)  # the locked row it belongs to

    @property
    def key(self) -> tuple[str, int]:
        return self.kind, self.pk


class Kind(Protocol):
    """The events of one app; a fresh instance serves one run."""

    kinds: tuple[str, ...]  # the Event.kind values it applies

    def feeders(self, planet_ids: list[int], until: datetime) -> QuerySet:
        """Planets where a mission out of these planets, back by `until`, arrives first: a
        values_list("target_id") query. Only the kinds of missions have this method. The
        timeline sends the queries of every kind as one statement, compiled once per process
        with stand-ins for the arguments (galactic.db.CompiledQuery): both must reach the SQL
        unchanged (`origin_id__any_of=planet_ids`), and the query depend on nothing else."""

    def load(self, planet_ids: set[int], run: Run) -> Iterable[Event]:
        """Lock this kind's rows pending on these planets, due by run.until; their events."""

    def apply(self, event: Event, run: Run) -> Iterable[Event]:
        """Apply one event to the locked rows (run.planets); the events it creates."""

    def flush(self, run: Run) -> None:
        """Write what apply changed (planets excepted) and schedule the follow-up jobs."""


_KINDS: list[Callable[[], Kind]] = []
K = TypeVar("K")


def register(factory: Callable[[], Kind]) -> None:
    """Declare a kind of event (an AppConfig.ready calls this once per process)."""
    if factory not in _KINDS:
        _KINDS.append(factory)


@dataclass
class Run:
    until: datetime
    kinds: list[Kind]
    planets: dict[int, Planet] = field(default_factory=dict)
    applied: list[Event] = field(default_factory=list)

    def kind(self, cls: type[K]) -> K:
        """This run's instance of a kind (a kind may read another's rows, e.g. the NPC bases)."""
        return next(kind for kind in self.kinds if isinstance(kind, cls))

    def applied_keys(self) -> set[tuple[str, int]]:
        return {event.key for event in self.applied}


def advance(*, planet_ids: Iterable[int], until: datetime) -> Run:
    """Apply every event pending on these planets (and on their feeders) due by `until`, in
    game-time order, in one transaction (the caller's, if it has one).

    Locks the planets by key, then the event rows. Idempotent: applied events are no longer
    pending. Returns the run: run.applied lists what it applied, in order.
    """
    with transaction.atomic():
        run = Run(until=until, kinds=[factory() for factory in _KINDS])
        pending = _lock_and_load(run, _closure(set(planet_ids), until, run.kinds))
        owners = {name: kind for kind in run.kinds for name in kind.kinds}
        queue = sorted(pending.values())
        while queue:
            event = heapq.heappop(queue)
            for follow in owners[event.kind].apply(event, run):
                if follow.planet_id in run.planets and follow.at <= until:
                    heapq.heappush(queue, follow)
            run.applied.append(event)
        if run.applied:
            bulk_save(run.planets.values(), Planet.STATE_FIELDS)
            for kind in run.kinds:
                kind.flush(run)
    return run


def _closure(planet_ids: set[int], until: datetime, kinds: list[Kind]) -> set[int]:
    """The planets and, transitively, their feeders (read without locks, to lock them in order):
    one statement per level for every kind of mission."""
    wanted, todo = set(planet_ids), set(planet_ids)
    query = _feeders_query(kinds)
    while todo and query is not None:
        found = {target for (target,) in query.fetch(sorted(todo), until)}
        todo = found - wanted
        wanted |= todo
    return wanted


_FEEDERS: dict[tuple[type, ...], CompiledQuery | None] = {}  # by the kinds of a run


def _feeders_query(kinds: list[Kind]) -> CompiledQuery | None:
    """The feeders of every kind of mission in one statement (UNION ALL), compiled once; None if
    no kind has missions."""
    key = tuple(type(kind) for kind in kinds)
    if key not in _FEEDERS:
        missions = [kind for kind in kinds if hasattr(kind, "feeders")]
        _FEEDERS[key] = CompiledQuery(partial(_feeders_union, missions), list, datetime) if missions else None
    return _FEEDERS[key]


def _feeders_union(kinds: list[Kind], planet_ids: list[int], until: datetime) -> QuerySet:
    first, *others = (kind.feeders(planet_ids, until) for kind in kinds)
    return first.union(*others, all=True) if others else first


def _lock_and_load(run: Run, planet_ids: set[int]) -> dict[tuple[str, int], Event]:
    """Lock the planets, then load their pending events. Should a mission have changed between
    the closure and the locks (so that a planet not locked yet now feeds one), lock that planet
    too: out of key order, but only in that race, and PostgreSQL breaks any deadlock it makes."""
    pending: dict[tuple[str, int], Event] = {}
    todo = planet_ids
    while todo:
        run.planets.update(_lock(todo))
        for kind in run.kinds:
            for event in kind.load(todo, run):
                pending.setdefault(event.key, event)
        todo = {event.planet_id for event in pending.values()} - run.planets.keys()
    return pending


# FOR NO KEY UPDATE: a plain FOR UPDATE would also block the FOR KEY SHARE lock that inserting a
# mission takes on its planets (see galactic.services.planet_launch). Compiled once per process
# (galactic.db.CompiledQuery): every event sends it.
_LOCK_PLANETS = CompiledQuery(
    lambda planet_ids: (
        Planet.objects.select_for_update(of=("self",), no_key=True)
        .select_related("owner")
        .filter(pk__any_of=planet_ids)
        .order_by("pk")
    ),
    list,
)


def _lock(planet_ids: set[int]) -> dict[int, Planet]:
    return {planet.pk: planet for planet in _LOCK_PLANETS.fetch(sorted(planet_ids))}
