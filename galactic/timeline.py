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

An event that cannot be applied (its handler raises, or the database refuses its rows: a poison
event) must not hold back the other events of its planet, which every run there would apply
first. So a run that fails for a reason other than the database's availability goes again one
instant at a time, each instant in its own transaction (`_stepwise`): the instant that fails names
the event, which is set aside, and the rest are applied. The event itself fails only in its own
job, where it counts against its own attempt budget (galactic.events.attempts). Quarantined events
are set aside by every run until an operator releases them. A job that comes back after its worker
died mid-job runs stepwise from the start, leaving a breadcrumb of the instant it is applying
(`watching`): should the worker die again, the crash is counted against that event, not the job.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Protocol, TypeVar

from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import BigIntegerField, QuerySet, Subquery, Value

from galactic.db import CompiledQuery, bulk_save
from galactic.models import Planet

logger = logging.getLogger(__name__)

Key = tuple[str, int]  # an event's (kind, row key)


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
    def key(self) -> Key:
        return self.kind, self.pk


class Kind(Protocol):
    """The events of one app; a fresh instance serves one run."""

    kinds: tuple[str, ...]  # the Event.kind values it applies
    # The id of the job (or of the attempt budget) an event of each kind runs under is this prefix
    # and the event's row key; "<kind>-" when a kind is not listed.
    job_prefixes: dict[str, str]

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
        """Write what apply changed (planets excepted) and schedule the follow-up jobs. Only the
        rows of applied events: an event set aside leaves its row as it was."""


_KINDS: list[Callable[[], Kind]] = []
_JOB_PREFIXES: dict[str, str] = {}
K = TypeVar("K")


def register(factory: type[Kind]) -> None:
    """Declare a kind of event (an AppConfig.ready calls this once per process)."""
    if factory not in _KINDS:
        _KINDS.append(factory)
        _JOB_PREFIXES.update(getattr(factory, "job_prefixes", {}))


def job_id(key: Key) -> str:
    """The id an event's job and attempt budget go under (galactic.events.attempts)."""
    kind, pk = key
    return f"{_JOB_PREFIXES.get(kind, kind + '-')}{pk}"


@dataclass
class Run:
    until: datetime
    kinds: list[Kind]
    planets: dict[int, Planet] = field(default_factory=dict)
    applied: list[Event] = field(default_factory=list)
    set_aside: set[Key] = field(default_factory=set)  # events that failed, left pending (stepwise)

    def kind(self, cls: type[K]) -> K:
        """This run's instance of a kind (a kind may read another's rows, e.g. the NPC bases)."""
        return next(kind for kind in self.kinds if isinstance(kind, cls))

    def applied_keys(self) -> set[Key]:
        return {event.key for event in self.applied}


def advance(
    *, planet_ids: Iterable[int], until: datetime, own: Iterable[Key] = (), stepwise: bool = False
) -> Run:
    """Apply every event pending on these planets (and on their feeders) due by `until`, in
    game-time order, in one transaction (the caller's, if it has one).

    Locks the planets by key, then the event rows. Idempotent: applied events are no longer
    pending. `own`: the events this call is for (a job's). Should the run fail for a reason that
    is not the database's availability, and the caller hold no transaction, it goes again stepwise:
    an event that fails and is not `own` is set aside (logged), the others are applied; an `own`
    event that fails raises. `stepwise`: straight to that (a caller that saw the run fail).
    Returns the run: run.applied lists what it applied, in order; run.set_aside what failed.
    """
    planet_ids, own = set(planet_ids), set(own)
    breadcrumb = _breadcrumb.get()
    if breadcrumb is None and not stepwise:
        nested = connection.in_atomic_block
        try:
            return _run(planet_ids, until)
        except Exception as error:
            if nested or _unavailable(error):
                raise
            logger.warning(
                "timeline: a run on planets %s failed (%s: %s); applying its events one instant at a "
                "time, to set aside the one that fails",
                sorted(planet_ids),
                error.__class__.__name__,
                error,
            )
    return _stepwise(planet_ids, until, own, breadcrumb)


def _run(planet_ids: set[int], until: datetime, set_aside: set[Key] | None = None) -> Run:
    """One run, in one transaction: every pending event but those set aside (None: the quarantined
    ones, read only if the closure's statement saw any)."""
    with transaction.atomic():
        run = Run(until=until, kinds=[factory() for factory in _KINDS])
        closure, any_quarantined = _closure(planet_ids, until, run.kinds)
        if set_aside is None:
            set_aside = _quarantined() if any_quarantined else set()
        pending = _lock_and_load(run, closure)
        owners = {name: kind for kind in run.kinds for name in kind.kinds}
        queue = sorted(event for key, event in pending.items() if key not in set_aside)
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


def _stepwise(planet_ids: set[int], until: datetime, own: set[Key], breadcrumb: Breadcrumb | None) -> Run:
    """advance(), one instant of game time per transaction: the events due at the first pending
    instant, then at the next, so that the instant that fails names its events. Slower (a run per
    instant): only after a failure, or for a job whose worker died running it."""
    done = Run(until=until, kinds=[])
    set_aside = _quarantined()
    # Every step runs on the planets of the whole run (its feeders included): with its own, earlier
    # time, a step would leave out a feeder whose failing event then fails a later step.
    planet_ids, instants = _instants(planet_ids, until, set_aside)
    if not instants or instants[-1][0] < until:
        instants.append((until, set()))  # what the earlier instants created, due by `until`
    for at, keys in instants:
        if breadcrumb is not None and keys:
            breadcrumb([job_id(key) for key in sorted(keys)])
        try:
            run = _run(planet_ids, at, set_aside)
        except Exception as error:
            if _unavailable(error) or keys & own or not keys:
                raise
            logger.warning(
                "timeline: %s failed (%s: %s); set aside: it fails in its own job, the other events go on",
                ", ".join(job_id(key) for key in sorted(keys)),
                error.__class__.__name__,
                error,
            )
            set_aside |= keys
            done.set_aside |= keys
            continue
        done.applied += run.applied
    return done


def _instants(
    planet_ids: set[int], until: datetime, set_aside: set[Key]
) -> tuple[set[int], list[tuple[datetime, set[Key]]]]:
    """The planets of the run, and the instants at which events are pending there (but those set
    aside), in order, each with its events; nothing is written."""
    with transaction.atomic():
        run = Run(until=until, kinds=[factory() for factory in _KINDS])
        pending = _lock_and_load(run, _closure(planet_ids, until, run.kinds)[0])
    instants: dict[datetime, set[Key]] = {}
    for event in sorted(event for key, event in pending.items() if key not in set_aside):
        instants.setdefault(event.at, set()).add(event.key)
    return set(run.planets), list(instants.items())


def _unavailable(error: BaseException) -> bool:
    """The database is down, restarting, or broke the run off (a deadlock, a serialization
    failure): nothing to learn about the events; the whole job is retried."""
    return isinstance(error, OperationalError | InterfaceError)


def _quarantined() -> set[Key]:
    """The quarantined events (galactic.events.attempts), by key: every run leaves them alone."""
    from galactic.events.models import QuarantinedEvent  # imported here: apps import this module early

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT job_id FROM {QuarantinedEvent._meta.db_table}")
        held = {row[0] for row in cursor.fetchall()}
    if not held:
        return set()
    keys = set()
    for kind in {kind for factory in _KINDS for kind in factory.kinds}:
        prefix = _JOB_PREFIXES.get(kind, kind + "-")
        keys |= {
            (kind, int(job[len(prefix) :]))
            for job in held
            if job.startswith(prefix) and job[len(prefix) :].isdigit()
        }
    return keys


# --- breadcrumbs: which events a run was applying when its worker died ----------------------------------

Breadcrumb = Callable[[list[str]], None]  # told the job ids of the events about to be applied
_breadcrumb: ContextVar[Breadcrumb | None] = ContextVar("timeline_breadcrumb", default=None)


@contextlib.contextmanager
def watching(breadcrumb: Breadcrumb) -> Iterator[None]:
    """Runs within go stepwise, telling `breadcrumb` each instant's events before applying them
    (the GameWorker, for a job whose worker died running it)."""
    token = _breadcrumb.set(breadcrumb)
    try:
        yield
    finally:
        _breadcrumb.reset(token)


def _closure(planet_ids: set[int], until: datetime, kinds: list[Kind]) -> tuple[set[int], bool]:
    """The planets and, transitively, their feeders (read without locks, to lock them in order):
    one statement per level for every kind of mission. And whether any event is quarantined: the
    same statement tells, which saves every run a round trip to the database (the quarantine is
    nearly always empty)."""
    wanted, todo = set(planet_ids), set(planet_ids)
    query = _feeders_query(kinds)
    if query is None:
        return wanted, True  # nothing tells: read the quarantine
    any_quarantined = False
    while todo:
        found = {target for (target,) in query.fetch(sorted(todo), until)}
        if QUARANTINE_SEEN in found:
            found.discard(QUARANTINE_SEEN)
            any_quarantined = True
        todo = found - wanted
        wanted |= todo
    return wanted, any_quarantined


_FEEDERS: dict[tuple[type, ...], CompiledQuery | None] = {}  # by the kinds of a run


def _feeders_query(kinds: list[Kind]) -> CompiledQuery | None:
    """The feeders of every kind of mission in one statement (UNION ALL), compiled once; None if
    no kind has missions."""
    key = tuple(type(kind) for kind in kinds)
    if key not in _FEEDERS:
        missions = [kind for kind in kinds if hasattr(kind, "feeders")]
        _FEEDERS[key] = CompiledQuery(partial(_feeders_union, missions), list, datetime) if missions else None
    return _FEEDERS[key]


# No planet has this key: a row of it among the feeders says that some event is quarantined.
QUARANTINE_SEEN = -1


def _feeders_union(kinds: list[Kind], planet_ids: list[int], until: datetime) -> QuerySet:
    from galactic.events.models import QuarantinedEvent  # imported here: apps import this module early

    first, *others = (kind.feeders(planet_ids, until) for kind in kinds)
    held = QuarantinedEvent.objects.order_by()
    seen = Value(QUARANTINE_SEEN, output_field=BigIntegerField())
    # one row at most, however many are held (the first one's, by key)
    one = held.filter(pk=Subquery(held.values("pk")[:1])).annotate(target=seen).values_list("target")
    return first.union(*others, one, all=True)


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
