#!/usr/bin/env python
"""Fault drill: nothing lost, nothing doubled, nothing wedged, under real faults, with real processes.

    .venv/bin/python deploy/drill.py --workers 3 --fleets 2000

It runs on bench.harness.Stack: a database of its own on the PostgreSQL of --postgres (dropped at
the end) and a redis-server of its own on a free loopback port, so it can wipe, stop and freeze
that Redis freely. Then it starts gunicorn, the scheduler and N workers (restarting any that exits,
as systemd would), dispatches fleets over HTTP with GAME_SPEED high, injects the faults, waits for
every fleet to land (or its arrival to be quarantined), audits the database, and prints a table
(or JSON with --json).

Faults (--faults, comma separated, default all; their times and outages scale with --time-scale):
  redis-stop  stop Redis for 10 s while fleets are being dispatched (it comes back empty)
  sigkill     SIGKILL a worker in the middle of a job, three times
  flushall    FLUSHALL Redis mid-run
  pg-restart  restart PostgreSQL mid-run (--pg-restart-cmd; by default the local cluster, which
              every client of that server notices: use a dedicated server if that matters)
  poison      a PostgreSQL trigger fails every update of one fleet: its arrival can never succeed
  killer      the worker that applies one fleet's arrival is SIGKILLed, every time, whichever job
              it runs (a trigger makes writing that arrival take 1.5 s in the database, where the
              drill sees which worker's connection waits in it), as a battle too big for memory
              would kill any worker that fights it
  redis-hang  Redis freezes for 10 s (SIGSTOP: it keeps its port and accepts connections, but
              answers nothing), then goes on where it stopped (SIGCONT)

It also sets up one giant battle directly in the database: 10^8 battleships against an NPC base
holding 10^8 (combat/engine.py's grouped mode fights it in tens of milliseconds; --no-giant-battle
leaves it out).

The audit: events scheduled and applied; lost (fleets that never landed, quarantined ones apart)
and duplicates (more arrival reports than arrivals); resources and player ships conserved; the
quarantined events, which must be exactly the poison and killer arrivals; the lateness of every
other event (from the workers' event lines); and every process alive at the end, none having
exited except by the drill's own SIGKILLs.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GAME_EVENT_PREFIXES = ("fleet-arrival-", "fleet-return-", "npc-respawn-")
ALL_FAULTS = ("redis-stop", "sigkill", "flushall", "pg-restart", "poison", "killer", "redis-hang")
# When each fault starts, in seconds after the first dispatch (times --time-scale).
PLAN = {
    "redis-stop": [1],
    "poison": [4],
    "killer": [8],
    "sigkill": [14, 20, 26],
    "flushall": [32],
    "pg-restart": [38],
    "redis-hang": [44],
}
# A worker's line per event (galactic.events.worker), with the time it was logged (its end).
EVENT_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) \S+ galactic\.events event id=(\S+) type=\S+ "
    r"lateness_ms=([\d.-]+) duration_ms=([\d.]+)",
    re.MULTILINE,
)
SETTLE_AFTER_FAULT = 10  # seconds after a fault's end during which an event still counts as hit by it


def progress(message: str) -> None:
    """Progress on a terminal only: logs and CI output stay quiet."""
    if sys.stderr.isatty():
        sys.stderr.write(f"\r\033[K{message}")
        sys.stderr.flush()


@dataclass
class Drill:
    workers: int
    fleets: int
    faults: tuple[str, ...]
    game_speed: int
    pg_restart_cmd: str | None
    timeout: float
    dispatch_seconds: float = 12
    time_scale: float = 1.0  # fault times and outages, for a shorter drill at a higher GAME_SPEED
    giant_battle: bool = False
    stack: object = None  # bench.harness.Stack, set by run()
    web_port: int = 0
    procs: dict = field(default_factory=dict)  # name -> subprocess.Popen
    commands: dict = field(default_factory=dict)  # name -> (args, env), to restart it
    killed: set[int] = field(default_factory=set)  # PIDs the drill SIGKILLed on purpose
    restarts: int = 0
    unexpected_exits: list[str] = field(default_factory=list)
    stopping: bool = False
    figures: dict = field(default_factory=dict)
    targets: dict[str, int] = field(default_factory=dict)  # fault -> fleet id (poison, killer)
    windows: list[tuple[float, float]] = field(default_factory=list)  # (start, end) of each fault

    # --- processes -------------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        """What every process of the drill runs with, on top of the stack's production settings."""
        return {
            "GAME_SPEED": str(self.game_speed),
            "GAME_EVENT_RETRY_DELAYS": "2,4,8",
            "GAME_EVENT_RESULT_TTL": "0",
            "RECONCILE_INTERVAL": "3",
            "PROBE_UPDATE_INTERVAL": "3600",
            "CONN_MAX_AGE": "0",
            "LOG_LEVEL": "WARNING",
        }

    def spawn(self, name: str, args: list[str], **env: str) -> None:
        self.commands[name] = (args, env)
        self.procs[name] = self.stack.spawn(name, args, **env)

    def start_app(self) -> None:
        py = sys.executable
        web = ["-m", "gunicorn", "galactic.wsgi", "--bind", f"127.0.0.1:{self.web_port}"]
        self.spawn("web", [py, *web, "--workers", "2", "--threads", "8", "--no-control-socket"])
        self.spawn("scheduler", [py, "manage.py", "rqscheduler"])
        for i in range(self.workers):
            # INFO: one line per event, with its lateness, read back by the audit
            # its database connections named after it, so that the killer fault can find it
            database = f"{self.stack.env()['DATABASE_URL']}?application_name=drill-worker-{i}"
            worker = [py, "manage.py", "rqworker", "game_events"]
            self.spawn(f"worker-{i}", worker, LOG_LEVEL="INFO", DATABASE_URL=database)

    def supervise(self) -> None:
        """Restart any app process that exits (as systemd's Restart=always would); an exit the
        drill did not cause is counted."""
        while not self.stopping:
            for name, proc in list(self.procs.items()):
                if proc.poll() is not None and not self.stopping:
                    if proc.pid not in self.killed:
                        self.unexpected_exits.append(f"{name} (exit {proc.returncode})")
                    time.sleep(1)
                    self.restarts += 1
                    args, env = self.commands[name]
                    self.procs[name] = self.stack.spawn(name, args, **env)
            time.sleep(0.5)

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        self.killed.add(proc.pid)
        if proc.poll() is None:  # not already gone (another fault may have killed it)
            os.kill(proc.pid, signal.SIGKILL)

    def wait_for_web(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                status, _ = self.http("GET", "/health")
                if status in (200, 503):
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"web did not start; see {self.stack.log_dir}")

    def http(
        self, method: str, path: str, body: dict | None = None, token: str | None = None
    ) -> tuple[int, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.web_port, timeout=30)
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Token {token}"
        conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        try:
            return response.status, json.loads(data) if data else {}
        except ValueError:  # an HTML error page: the status says enough
            return response.status, {}

    def sql(self, statement: str) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(statement)

    # --- universe --------------------------------------------------------------------------------
    def create_universe(self, players: int = 8) -> list[dict]:
        """Players with plenty of ships and stock, NPC bases, and no production: every resource
        is then accounted for by planets, cargo in flight and burnt fuel."""
        from combat.services import npc_seed
        from galactic.models import Planet
        from galactic.services import player_create

        made = [player_create(username=f"drill{i}") for i in range(players)]
        npc_seed(count=6)
        Planet.objects.update(metal_per_hour=0, crystal_per_hour=0, deuterium_per_hour=0)
        Planet.objects.filter(owner__isnull=False).update(
            small_cargo=100_000,
            large_cargo=10_000,
            battleship=20_000,
            cruiser=20_000,
            metal=10**9,
            crystal=10**9,
            deuterium=10**9,
        )
        return [{"token": p.token, "home": p.home.pk} for p in made]

    def create_giant_battle(self, players: list[dict]) -> None:
        """10^8 battleships against an NPC base holding 10^8, set up in the database, due in 20 s
        (the arrival's job comes from reconciliation). Made before the audit's first count, so
        the ships and the NPC's stock are accounted for like any others."""
        from datetime import timedelta

        from combat.models import NpcBase
        from fleets.models import Fleet
        from galactic.models import Planet, Player

        npc = NpcBase.objects.order_by("pk").last()
        Planet.objects.filter(pk=npc.planet_id).update(battleship=10**8)
        home = Planet.objects.get(pk=players[0]["home"])
        from django.utils import timezone

        now = time.time()
        at = timezone.now()
        fleet = Fleet.objects.create(
            owner=Player.objects.get(pk=home.owner_id),
            origin=home,
            target_id=npc.planet_id,
            mission=Fleet.Mission.ATTACK,
            ships={"battleship": 10**8},
            fuel=1,  # the least a fleet burns; taken from the origin below, so nothing is made
            speed=100,
            depart_at=at,
            arrive_at=at + timedelta(seconds=20 * self.time_scale),
            return_at=at + timedelta(seconds=40 * self.time_scale),
        )
        Planet.objects.filter(pk=home.pk).update(deuterium=home.deuterium - 1)
        self.targets["giant"] = fleet.pk
        self.figures["giant_battle_set_up_s"] = round(time.time() - now, 2)

    # --- the run ---------------------------------------------------------------------------------
    def fleet_orders(self, players: list[dict]) -> list[tuple[str, dict]]:
        from combat.models import NpcBase

        npcs = list(NpcBase.objects.values_list("planet_id", flat=True))
        rng = random.Random(7)
        orders = []
        for i in range(self.fleets):
            sender = players[i % len(players)]
            speed = rng.choice([50, 60, 70, 80, 90, 100])
            if i % 4 == 0:  # every fourth fleet attacks an NPC base (battle, loot, defeat, respawn)
                body = {
                    "origin": sender["home"],
                    "target": rng.choice(npcs),
                    "mission": "attack",
                    "ships": {"battleship": 30, "cruiser": 30, "large_cargo": 2},
                    "speed": speed,
                }
            else:
                receiver = players[(i + 1 + rng.randrange(len(players) - 1)) % len(players)]
                body = {
                    "origin": sender["home"],
                    "target": receiver["home"],
                    "mission": "transport",
                    "ships": {"small_cargo": rng.randint(1, 5)},
                    "speed": speed,
                    "cargo": {"metal": rng.randint(0, 3000), "crystal": rng.randint(0, 2000)},
                }
            orders.append((sender["token"], body))
        return orders

    def dispatch(self, orders: list[tuple[str, dict]]) -> dict[int, int]:
        statuses: dict[int, int] = {}
        done = 0
        lock = threading.Lock()

        def send(order: tuple[str, dict]) -> None:
            nonlocal done
            status = 0
            for _ in range(40):
                try:
                    status, _ = self.http("POST", "/api/fleets", order[1], token=order[0])
                except OSError:  # a web worker restarting refuses connections for a moment
                    status = 0
                if 0 < status < 500:
                    break
                # PostgreSQL restarting: the dispatch was rolled back; a player would send it again
                with lock:
                    self.figures["dispatch_retries"] = self.figures.get("dispatch_retries", 0) + 1
                time.sleep(0.25)
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
                done += 1
                progress(f"dispatched {done}/{len(orders)}")

        # Spread over dispatch_seconds, so that the faults land while fleets are still being sent.
        start = time.monotonic()

        def paced(indexed: tuple[int, tuple[str, dict]]) -> None:
            time.sleep(max(0.0, start + indexed[0] * self.dispatch_seconds / len(orders) - time.monotonic()))
            send(indexed[1])

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(paced, enumerate(orders)))
        return statuses

    # --- faults ----------------------------------------------------------------------------------
    def redis(self):
        from galactic.events import queue

        return queue.get_connection()

    def pending_in_db(self) -> list[str]:
        from galactic.events import attempts
        from galactic.events.reconcile import pending_events

        held = attempts.quarantined_ids()
        return [event.job_id for event in pending_events() if event.job_id not in held]

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 120) -> float | None:
        """Seconds until predicate() held (polling), or None if it never did."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            try:
                if predicate():
                    return round(time.monotonic() - start, 2)
            except Exception:  # Redis or PostgreSQL restarting: keep polling, on a fresh connection
                from django.db import close_old_connections

                close_old_connections()
            time.sleep(0.1)
        return None

    def all_pending_back_in_redis(self) -> bool:
        from galactic.events import queue

        job_ids = self.pending_in_db()
        pipe = self.redis().pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hget(f"rq:job:{job_id}", "status")
        return all(queue.is_live(s.decode() if s else None) for s in pipe.execute())

    def fault_redis_stop(self) -> None:
        self.stack.stop(self.stack.redis_proc)
        time.sleep(10 * self.time_scale)
        self.stack.start_redis()
        self.figures["redis_stop_recovery_s"] = self.wait_until(self.all_pending_back_in_redis)

    def fault_flushall(self) -> None:
        self.redis().flushall()
        self.figures["flushall_recovery_s"] = self.wait_until(self.all_pending_back_in_redis)

    def worker_running(self, job_id: str) -> str | None:
        """The drill's name of the worker process that has started `job_id`, if any."""
        connection = self.redis()
        status, worker = connection.hmget(f"rq:job:{job_id}", "status", "worker_name")
        if status != b"started" or not worker:
            return None
        pid = connection.hget(f"rq:worker:{worker.decode()}", "pid")
        for name, proc in self.procs.items():
            if pid and name.startswith("worker") and proc.pid == int(pid):
                return name
        return None

    def busy_worker(self) -> tuple[str, str] | None:
        """(process name, job id) of a worker in the middle of a fleet job."""
        for member in self.redis().zrange("rq:wip:game_events", 0, -1):
            job_id = member.decode().split(":", 1)[0]
            name = (
                job_id.startswith("fleet-")
                and job_id not in self.drill_jobs()
                and self.worker_running(job_id)
            )
            if name:
                return name, job_id
        return None

    def drill_jobs(self) -> set[str]:
        return {f"fleet-arrival-{fleet_id}" for fleet_id in self.targets.values()}

    def fault_sigkill(self) -> None:
        found = None
        deadline = time.monotonic() + 20
        while found is None and time.monotonic() < deadline:
            try:
                found = self.busy_worker()
            except Exception:  # Redis busy or restarting: look again
                time.sleep(0.05)
        if found is None:
            self.figures.setdefault("sigkill_skipped", 0)
            self.figures["sigkill_skipped"] += 1
            return
        name, job_id = found
        self.kill(name)
        self.figures.setdefault("sigkill_recovery_s", []).append(
            self.wait_until(lambda: self.applied(job_id), 60)
        )

    def applied(self, job_id: str) -> bool:
        from fleets.models import Fleet

        fleet = Fleet.objects.get(pk=int(job_id.rsplit("-", 1)[1]))
        return fleet.status != Fleet.Status.OUTBOUND if "arrival" in job_id else fleet.status == "completed"

    def fault_pg_restart(self) -> None:
        """Restart PostgreSQL; recovery is the time until fleets land again."""
        from fleets.models import Fleet

        landed = Fleet.objects.filter(status="completed").count()
        start = time.monotonic()
        import subprocess

        subprocess.run(self.pg_restart_cmd, shell=True, check=True, capture_output=True)
        self.wait_until(lambda: Fleet.objects.filter(status="completed").count() > landed, 60)
        self.figures["pg_restart_recovery_s"] = round(time.monotonic() - start, 2)

    def fleet_in_flight(self, after: float = 1.0) -> int:
        """A transport still outbound that arrives at least `after` seconds from now (waiting up to
        20 s for one to be dispatched)."""
        from datetime import timedelta

        from django.utils import timezone

        from fleets.models import Fleet

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            later = timezone.now() + timedelta(seconds=after)
            candidates = Fleet.objects.filter(status="outbound", mission="transport", arrive_at__gt=later)
            found = candidates.exclude(pk__in=self.targets.values()).order_by("arrive_at").first()
            if found is not None:
                return found.pk
            time.sleep(0.2)
        raise RuntimeError("no fleet in flight to break: dispatch more fleets or a lower --game-speed")

    def fault_poison(self) -> None:
        """A trigger fails every update of one fleet: its arrival fails on every attempt."""
        fleet_id = self.fleet_in_flight(after=1)
        self.targets["poison"] = fleet_id
        self.fleet_trigger("drill_poison", fleet_id, "RAISE EXCEPTION 'drill: fleet % is poisoned', OLD.id;")

    def fault_killer(self) -> None:
        """The worker that starts one fleet's arrival is SIGKILLed, each time, until the arrival is
        quarantined. A trigger holds that arrival 1.5 s in the database so the kill lands mid-job."""
        fleet_id = self.fleet_in_flight(after=1)
        self.targets["killer"] = fleet_id
        self.fleet_trigger("drill_slow", fleet_id, "PERFORM pg_sleep(1.5); RETURN NEW;")
        threading.Thread(
            target=self.kill_each_writer, args=(f"fleet-arrival-{fleet_id}",), daemon=True
        ).start()

    def fleet_trigger(self, name: str, fleet_id: int, body: str) -> None:
        """A function `name` running `body` (PL/pgSQL) before every update of one fleet's row."""
        self.sql(f"CREATE FUNCTION {name}() RETURNS trigger AS $$ BEGIN {body} END $$ LANGUAGE plpgsql")
        self.sql(
            f"CREATE TRIGGER {name} BEFORE UPDATE ON fleets_fleet FOR EACH ROW "
            f"WHEN (OLD.id = {int(fleet_id)}) EXECUTE FUNCTION {name}()"
        )

    def kill_each_writer(self, job_id: str) -> None:
        """SIGKILL every worker whose connection waits in the killer's trigger (pg_sleep), until
        the arrival is quarantined."""
        from galactic.events.models import QuarantinedEvent

        kills = 0
        deadline = time.monotonic() + self.timeout
        while not self.stopping and time.monotonic() < deadline:
            try:
                if QuarantinedEvent.objects.filter(job_id=job_id).exists():
                    break
                name = self.worker_in_trigger()
            except Exception:  # Redis or PostgreSQL in one of the other faults: look again
                from django.db import close_old_connections

                close_old_connections()
                name = None
            if name is None:
                time.sleep(0.02)
                continue
            self.kill(name)
            kills += 1
            self.figures["killer_kills"] = kills
            self.wait_until(lambda n=name: self.worker_in_trigger() != n, 30)

    def worker_in_trigger(self) -> str | None:
        """The drill's name of a worker whose database session sleeps in the killer's trigger."""
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT application_name FROM pg_stat_activity WHERE wait_event = 'PgSleep' "
                "AND application_name LIKE 'drill-worker-%%' AND datname = current_database() LIMIT 1"
            )
            row = cursor.fetchone()
        return row[0].removeprefix("drill-") if row else None

    def fault_redis_hang(self) -> None:
        """Redis stops answering for 10 s; meanwhile dispatches and /health are timed."""
        redis_proc = self.stack.redis_proc
        self.figures["dispatch_ms_before_hang"] = self.timed_dispatches()
        redis_proc.send_signal(signal.SIGSTOP)
        started = time.monotonic()
        try:
            time.sleep(1.5 * self.time_scale)  # the web's breaker window: one socket timeout per process
            self.figures["redis_hang_dispatch_ms"], self.figures["redis_hang_health"] = self.probe_hung_api()
            time.sleep(max(0.0, 10 * self.time_scale - (time.monotonic() - started)))
        finally:
            redis_proc.send_signal(signal.SIGCONT)
        self.figures["redis_hang_recovery_s"] = self.wait_until(self.all_pending_back_in_redis)

    def timed_dispatches(self) -> list:
        """Dispatch eight fleets, one after the other: how long each took (ms), or its status."""
        order = self.hang_order
        times = []
        for _ in range(8):
            start = time.monotonic()
            status, _ = self.http("POST", "/api/fleets", order[1], token=order[0])
            times.append(round((time.monotonic() - start) * 1000, 1) if status == 201 else f"status {status}")
        return times

    def probe_hung_api(self) -> tuple[list, list]:
        """Dispatch eight fleets and ask /health while Redis hangs: how long each took. The first
        dispatch in each web process waits one socket timeout, then its breaker is open."""
        times = self.timed_dispatches()
        start = time.monotonic()
        status, _ = self.http("GET", "/health")
        return times, [status, round((time.monotonic() - start) * 1000, 1)]

    def inject(self) -> None:
        plan = sorted(
            (at, fault)
            for fault in self.faults
            for at in PLAN[fault]
            if fault != "pg-restart" or self.pg_restart_cmd
        )
        start = time.monotonic()
        for at, fault in plan:
            time.sleep(max(0.0, at * self.time_scale - (time.monotonic() - start)))
            began = time.time()
            try:
                getattr(self, "fault_" + fault.replace("-", "_"))()
            except Exception as error:  # a fault the drill failed to inject: reported, and the run fails
                self.figures.setdefault("fault_errors", []).append(f"{fault}: {error!r}")
            if fault not in ("poison", "killer"):  # those two touch only their own event
                self.windows.append((began, time.time() + SETTLE_AFTER_FAULT))

    # --- audit -----------------------------------------------------------------------------------
    def totals(self) -> dict[str, int]:
        """Resources (planets + cargo in flight + burnt fuel) and player ships (planets + in flight)."""
        from django.db.models import Sum

        from fleets.models import Fleet
        from galactic.models import Planet
        from galactic.ships import SHIPS

        planets = Planet.objects.aggregate(**{r: Sum(r) for r in ("metal", "crystal", "deuterium")})
        flying = Fleet.objects.filter(status__in=("outbound", "returning"))
        cargo = flying.aggregate(**{r: Sum(r) for r in ("metal", "crystal", "deuterium")})
        fuel = Fleet.objects.aggregate(f=Sum("fuel"))["f"] or 0
        ships = sum(
            Planet.objects.filter(owner__isnull=False).aggregate(**{s: Sum(s) for s in SHIPS}).values()
        )
        ships += sum(sum(f.values()) for f in flying.values_list("ships", flat=True))
        return {
            "metal": (planets["metal"] or 0) + (cargo["metal"] or 0),
            "crystal": (planets["crystal"] or 0) + (cargo["crystal"] or 0),
            "deuterium": (planets["deuterium"] or 0) + (cargo["deuterium"] or 0) + fuel,
            "player_ships": ships,
        }

    def quarantine_audit(self) -> dict:
        from galactic.events.models import EventAttempt, QuarantinedEvent

        held = sorted(QuarantinedEvent.objects.values_list("job_id", flat=True))
        expected = sorted(
            f"fleet-arrival-{self.targets[f]}" for f in ("poison", "killer") if f in self.targets
        )
        history = {
            job_id: list(EventAttempt.objects.filter(job_id=job_id).values_list("kind", flat=True))
            for job_id in held
        }
        return {
            "quarantined": held,
            "quarantined_as_expected": held == expected,
            "quarantine_attempts": {job_id: dict(Counter(kinds)) for job_id, kinds in history.items()},
        }

    def lateness(self) -> dict:
        """Lateness of every game event but the drill's own targets, from the workers' event lines
        (first attempts; a crash hand-back or a rewrite after a Redis loss counts as late): for all
        of them, and for those due outside the faults (and the SETTLE_AFTER_FAULT s after each)."""
        from bench.harness import distribution

        skip = self.drill_jobs()
        late: dict[str, tuple[float, float]] = {}  # job id -> (lateness, due)
        for log in sorted(self.stack.log_dir.glob("worker-*.log")):
            for stamp, ms, job_id, lateness, duration in EVENT_LINE.findall(log.read_text(errors="replace")):
                if lateness == "-" or job_id in skip or not job_id.startswith(GAME_EVENT_PREFIXES):
                    continue  # periodic jobs (reconciliation, probe:update) fire about 1 s late by design
                ended = time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S")) + int(ms) / 1000
                seconds = float(lateness) / 1000
                due = ended - float(duration) / 1000 - seconds
                late[job_id] = max(late.get(job_id, (seconds, due)), (seconds, due))
        calm = [value for value, due in late.values() if not any(a <= due <= b for a, b in self.windows)]
        figures = {"all": distribution(value for value, _ in late.values())}
        figures["all"]["over_1s"] = sum(1 for value, _ in late.values() if value > 1)
        figures["outside_faults"] = distribution(calm)
        figures["outside_faults"]["over_1s"] = sum(1 for value in calm if value > 1)
        return figures

    def audit(self, before: dict[str, int]) -> dict:
        from combat.models import NpcBase, Report
        from fleets.models import Fleet

        quarantine = self.quarantine_audit()
        held = [int(job_id.rsplit("-", 1)[1]) for job_id in quarantine["quarantined"] if "arrival" in job_id]
        fleets = Fleet.objects.all()
        arrived = fleets.exclude(status="outbound").count()
        reports = Report.objects.count()
        attacker_losses = sum(
            sum(data["losses"]["attacker"].values())
            for data in Report.objects.filter(kind="battle").values_list("data", flat=True)
        )
        after = self.totals()
        # a battle report against an NPC with rounds > 0 and an attacker win is a defeat
        defeats = Report.objects.filter(
            kind="battle", defender__isnull=True, data__outcome="attacker"
        ).exclude(data__rounds=0)
        return {
            "fleets": fleets.count(),
            "events_scheduled": fleets.count()
            + fleets.exclude(status="destroyed").exclude(pk__in=held).count(),
            "events_applied": arrived + fleets.filter(status="completed").count(),
            "events_quarantined": len(held),
            "lost": fleets.filter(status__in=("outbound", "returning")).exclude(pk__in=held).count(),
            "duplicates": max(0, reports - arrived),
            "destroyed": fleets.filter(status="destroyed").count(),
            "npc_defeats": defeats.count(),
            "npc_respawned": defeats.count() - NpcBase.objects.filter(state="defeated").count(),
            "resources_before": {k: v for k, v in before.items() if k != "player_ships"},
            "resources_after": {k: v for k, v in after.items() if k != "player_ships"},
            "resources_conserved": all(before[k] == after[k] for k in ("metal", "crystal", "deuterium")),
            "ships_conserved": after["player_ships"] == before["player_ships"] - attacker_losses,
            **quarantine,
            **self.replays(),
            "lateness_ms": self.lateness(),
        }

    def replays(self) -> dict[str, int]:
        """Every battle of the run fought again from its report: the same outcome, rounds, losses."""
        from combat.models import Report
        from combat.replay import battle_replay

        battles = Report.objects.filter(kind="battle", forces__isnull=False)
        mismatched = sum(not battle_replay(report).matches for report in battles.iterator())
        return {"battles_replayed": battles.count(), "battle_replays_differing": mismatched}

    def settled(self) -> bool:
        """Every fleet landed, but the quarantined arrivals (which wait for an operator)."""
        from fleets.models import Fleet
        from galactic.events import attempts

        held = [int(j.rsplit("-", 1)[1]) for j in attempts.quarantined_ids("fleet-arrival-")]
        flying = Fleet.objects.filter(status__in=("outbound", "returning")).exclude(pk__in=held)
        return not flying.exists() and len(held) >= len({"poison", "killer"} & set(self.faults))

    def workers_alive(self) -> dict:
        from galactic.events import queue

        running = sum(
            1 for name, proc in self.procs.items() if name.startswith("worker") and proc.poll() is None
        )
        registered = self.wait_until(lambda: queue.get_queue_stats().workers == self.workers, 30)
        return {"workers_running": running, "workers_registered": registered is not None}

    def run(self) -> dict:
        from bench.harness import Stack, free_port

        self.web_port = free_port()
        with Stack("drill", **self.env()) as stack:
            self.stack = stack
            try:
                return self.run_in(stack)
            finally:
                self.stopping = True

    def run_in(self, stack) -> dict:
        self.start_app()
        threading.Thread(target=self.supervise, daemon=True).start()
        self.wait_for_web()
        players = self.create_universe()
        if self.giant_battle:
            self.create_giant_battle(players)
        orders = self.fleet_orders(players)
        self.hang_order = orders[1]  # a transport: dispatches timed while Redis hangs
        before = self.totals()
        faults = threading.Thread(target=self.inject)
        started = time.monotonic()
        faults.start()
        statuses = self.dispatch(orders)
        self.figures["dispatch_s"] = round(time.monotonic() - started, 2)
        self.figures["dispatch_statuses"] = statuses
        faults.join()
        self.figures["settle_s"] = self.wait_until(self.settled, self.timeout)
        self.figures["run_s"] = round(time.monotonic() - started, 2)
        self.figures.update(self.workers_alive())
        self.figures["process_restarts"] = self.restarts
        self.figures["unexpected_exits"] = self.unexpected_exits
        self.figures["logs"] = str(stack.log_dir)
        return {**self.audit(before), **self.figures}


def table(result: dict) -> str:
    rows = [
        (key.replace("_", " "), json.dumps(value) if isinstance(value, dict | list) else str(value))
        for key, value in result.items()
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def passed(result: dict) -> bool:
    return (
        result["lost"] == 0
        and result["duplicates"] == 0
        and result["resources_conserved"]
        and result["ships_conserved"]
        and result["battle_replays_differing"] == 0
        and result["quarantined_as_expected"]
        and result["workers_running"] == result.get("workers_expected", result["workers_running"])
        and result["workers_registered"]
        and not result["unexpected_exits"]
        and not result.get("fault_errors")
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--fleets", type=int, default=2000)
    parser.add_argument("--faults", default=",".join(ALL_FAULTS), help="comma separated; 'none' for none")
    parser.add_argument(
        "--postgres",
        default="postgres://postgres@127.0.0.1:5432",
        help="server URL without a database name; the drill creates and drops its own",
    )
    parser.add_argument("--game-speed", type=int, default=500)
    parser.add_argument("--dispatch-seconds", type=float, default=12)
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="scale the fault times and the Redis outages (0.5 with twice the game speed)",
    )
    parser.add_argument("--timeout", type=float, default=240, help="seconds to wait for every fleet to land")
    parser.add_argument("--pg-restart-cmd", default=default_pg_restart())
    parser.add_argument(
        "--giant-battle",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="add a battle of 10^8 units a side (default on)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()
    faults = () if args.faults == "none" else tuple(f.strip() for f in args.faults.split(","))
    unknown = set(faults) - set(ALL_FAULTS)
    if unknown:
        parser.error(f"unknown faults: {', '.join(sorted(unknown))}; choose from {', '.join(ALL_FAULTS)}")
    if "pg-restart" in faults and not args.pg_restart_cmd:
        parser.error("pg-restart needs --pg-restart-cmd (no local cluster found)")
    os.environ["BENCH_POSTGRES"] = args.postgres  # read by bench.harness when it is imported
    os.environ.setdefault("BENCH_KEEP_LOGS", "1")  # the drill prints where its logs are
    sys.path.insert(0, str(REPO))
    os.chdir(REPO)
    drill = Drill(
        workers=args.workers,
        fleets=args.fleets,
        faults=faults,
        game_speed=args.game_speed,
        pg_restart_cmd=args.pg_restart_cmd,
        timeout=args.timeout,
        dispatch_seconds=args.dispatch_seconds,
        time_scale=args.time_scale,
        giant_battle=args.giant_battle,
    )
    result = drill.run()
    result["faults"] = list(faults)
    result["workers_expected"] = args.workers
    progress("")
    print(json.dumps(result) if args.json else table(result))
    return 0 if passed(result) else 1


def default_pg_restart() -> str | None:
    if shutil.which("pg_ctlcluster") and Path("/etc/postgresql").is_dir():
        versions = sorted(os.listdir("/etc/postgresql"))
        if versions:
            return f"pg_ctlcluster --skip-systemctl-redirect {versions[-1]} main restart"
    return None


if __name__ == "__main__":
    sys.exit(main())
