#!/usr/bin/env python
"""Fault drill: nothing lost, nothing doubled, under real faults, with real processes.

    .venv/bin/python deploy/drill.py --workers 3 --fleets 2000

It creates a database of its own on the PostgreSQL of --postgres (dropped at the end) and starts
a redis-server of its own on a free loopback port, so it can wipe and stop that Redis freely.
Then it starts gunicorn, the scheduler and N workers (restarting any that exits, as systemd
would), dispatches fleets over HTTP with GAME_SPEED high, injects the faults, waits for every
fleet to land, audits the database, and prints a table (or JSON with --json).

Faults (--faults, comma separated, default all):
  redis-stop  stop Redis for 10 s while fleets are being dispatched (it comes back empty)
              (fault times and this outage scale with --time-scale)
  sigkill     SIGKILL a worker in the middle of a job, three times
  flushall    FLUSHALL Redis mid-run
  pg-restart  restart PostgreSQL mid-run (--pg-restart-cmd; by default the local cluster, which
              every client of that server notices: use a dedicated server if that matters)
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ALL_FAULTS = ("redis-stop", "sigkill", "flushall", "pg-restart")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    postgres: str
    game_speed: int
    pg_restart_cmd: str | None
    timeout: float
    dispatch_seconds: float = 12
    time_scale: float = 1.0  # fault times and the Redis outage, for a shorter drill at a higher GAME_SPEED
    log_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="drill-")))
    redis_port: int = field(default_factory=free_port)
    web_port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    restarts: int = 0
    stopping: bool = False
    redis_down: bool = False
    figures: dict = field(default_factory=dict)

    # --- processes -------------------------------------------------------------------------------
    @property
    def database(self) -> str:
        return f"drill_{os.getpid()}"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "galactic.settings",
            "DEBUG": "true",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": f"{self.postgres.rstrip('/')}/{self.database}",
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "GAME_SPEED": str(self.game_speed),
            "GAME_EVENT_RETRY_DELAYS": "2,4,8",
            "RECONCILE_INTERVAL": "3",
            "PROBE_UPDATE_INTERVAL": "3600",
            "CONN_MAX_AGE": "0",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }

    def spawn(self, name: str, *args: str) -> None:
        with open(self.log_dir / f"{name}.log", "ab") as log:
            self.procs[name] = subprocess.Popen(
                [*args],
                cwd=REPO,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start_redis(self) -> None:
        self.spawn(
            "redis",
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(self.redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.log_dir),
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.redis_port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def start_app(self) -> None:
        py = sys.executable
        self.spawn(
            "web",
            py,
            "-m",
            "gunicorn",
            "galactic.wsgi",
            "--bind",
            f"127.0.0.1:{self.web_port}",
            "--workers",
            "2",
            "--threads",
            "8",
            "--no-control-socket",
        )
        self.spawn("scheduler", py, "manage.py", "rqscheduler")
        for i in range(self.workers):
            self.spawn(f"worker-{i}", py, "manage.py", "rqworker", "game_events")

    def supervise(self) -> None:
        """Restart any app process that exits (as systemd's Restart=always would)."""
        while not self.stopping:
            for name, proc in list(self.procs.items()):
                if name != "redis" and proc.poll() is not None and not self.stopping:
                    time.sleep(1)
                    self.restarts += 1
                    self.spawn(name, *proc.args)
            time.sleep(0.5)

    def stop_all(self) -> None:
        self.stopping = True
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()

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
        raise RuntimeError(f"web did not start; see {self.log_dir}/web.log")

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

    # --- database and universe -------------------------------------------------------------------
    def create_database(self) -> None:
        import psycopg

        with psycopg.connect(f"{self.postgres.rstrip('/')}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database}"')
            conn.execute(f'CREATE DATABASE "{self.database}"')
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=REPO,
            env=self.env(),
            check=True,
        )
        os.environ.update(self.env())
        import django

        django.setup()

    def drop_database(self) -> None:
        import psycopg
        from django.db import connections

        connections.close_all()
        with psycopg.connect(f"{self.postgres.rstrip('/')}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

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
            for _ in range(20):  # a web worker restarting refuses connections for a moment
                try:
                    status, _ = self.http("POST", "/api/fleets", order[1], token=order[0])
                    break
                except OSError:
                    time.sleep(0.25)
            else:
                status = 0
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
        from galactic.events.reconcile import pending_events

        return [event.job_id for event in pending_events()]

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
        proc = self.procs["redis"]
        self.redis_down = True
        proc.send_signal(signal.SIGTERM)
        proc.wait()
        time.sleep(10 * self.time_scale)
        self.start_redis()
        self.redis_down = False
        self.figures["redis_stop_recovery_s"] = self.wait_until(self.all_pending_back_in_redis)

    def fault_flushall(self) -> None:
        self.redis().flushall()
        self.figures["flushall_recovery_s"] = self.wait_until(self.all_pending_back_in_redis)

    def busy_worker(self) -> tuple[str, str] | None:
        """(process name, job id) of a worker in the middle of a fleet job."""
        connection = self.redis()
        for member in connection.zrange("rq:wip:game_events", 0, -1):
            job_id = member.decode().split(":", 1)[0]
            worker = connection.hget(f"rq:job:{job_id}", "worker_name")
            pid = worker and connection.hget(f"rq:worker:{worker.decode()}", "pid")
            for name, proc in self.procs.items():
                if pid and name.startswith("worker") and proc.pid == int(pid) and job_id.startswith("fleet-"):
                    return name, job_id
        return None

    def fault_sigkill(self) -> None:
        found = None
        deadline = time.monotonic() + 20
        while found is None and time.monotonic() < deadline:
            found = self.busy_worker()
        if found is None:
            self.figures.setdefault("sigkill_skipped", 0)
            self.figures["sigkill_skipped"] += 1
            return
        name, job_id = found
        os.kill(self.procs[name].pid, signal.SIGKILL)
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
        subprocess.run(self.pg_restart_cmd, shell=True, check=True, capture_output=True)
        self.wait_until(lambda: Fleet.objects.filter(status="completed").count() > landed, 60)
        self.figures["pg_restart_recovery_s"] = round(time.monotonic() - start, 2)

    def inject(self, dispatching: threading.Event) -> None:
        plan = [("redis-stop", 1)] if "redis-stop" in self.faults else []
        plan += [("sigkill", 14), ("sigkill", 20), ("sigkill", 26)] if "sigkill" in self.faults else []
        plan += [("flushall", 32)] if "flushall" in self.faults else []
        plan += [("pg-restart", 38)] if "pg-restart" in self.faults and self.pg_restart_cmd else []
        start = time.monotonic()
        for fault, at in plan:
            time.sleep(max(0.0, at * self.time_scale - (time.monotonic() - start)))
            getattr(self, "fault_" + fault.replace("-", "_"))()

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

    def audit(self, before: dict[str, int]) -> dict:
        from combat.models import Report
        from fleets.models import Fleet

        fleets = Fleet.objects.all()
        arrived = fleets.exclude(status="outbound").count()
        reports = Report.objects.count()
        destroyed = fleets.filter(status="destroyed").count()
        attacker_losses = sum(
            sum(data["losses"]["attacker"].values())
            for data in Report.objects.filter(kind="battle").values_list("data", flat=True)
        )
        after = self.totals()
        expected_ships = before["player_ships"] - attacker_losses
        from combat.models import NpcBase

        # a battle report against an NPC with rounds > 0 and an attacker win is a defeat
        defeats = Report.objects.filter(
            kind="battle", defender__isnull=True, data__outcome="attacker"
        ).exclude(data__rounds=0)
        return {
            "fleets": fleets.count(),
            "events_scheduled": fleets.count() + fleets.exclude(status="destroyed").count(),
            "events_applied": arrived + fleets.filter(status="completed").count(),
            "lost": fleets.filter(status__in=("outbound", "returning")).count(),
            "duplicates": max(0, reports - arrived),
            "destroyed": destroyed,
            "npc_defeats": defeats.count(),
            "npc_respawned": defeats.count() - NpcBase.objects.filter(state="defeated").count(),
            "resources_before": {k: v for k, v in before.items() if k != "player_ships"},
            "resources_after": {k: v for k, v in after.items() if k != "player_ships"},
            "resources_conserved": all(before[k] == after[k] for k in ("metal", "crystal", "deuterium")),
            "ships_conserved": after["player_ships"] == expected_ships,
            **self.replays(),
        }

    def replays(self) -> dict[str, int]:
        """Every battle of the run fought again from its report: the same outcome, rounds, losses."""
        from combat.models import Report
        from combat.replay import battle_replay

        battles = Report.objects.filter(kind="battle", forces__isnull=False)
        mismatched = sum(not battle_replay(report).matches for report in battles.iterator())
        return {"battles_replayed": battles.count(), "battle_replays_differing": mismatched}

    def run(self) -> dict:
        self.create_database()
        try:
            self.start_redis()
            self.start_app()
            threading.Thread(target=self.supervise, daemon=True).start()
            self.wait_for_web()
            players = self.create_universe()
            orders = self.fleet_orders(players)
            before = self.totals()
            dispatching = threading.Event()
            faults = threading.Thread(target=self.inject, args=(dispatching,))
            started = time.monotonic()
            faults.start()
            statuses = self.dispatch(orders)
            self.figures["dispatch_s"] = round(time.monotonic() - started, 2)
            self.figures["dispatch_statuses"] = statuses
            faults.join()
            from fleets.models import Fleet

            in_flight = Fleet.objects.filter(status__in=("outbound", "returning"))
            self.figures["settle_s"] = self.wait_until(lambda: not in_flight.exists(), self.timeout)
            self.figures["run_s"] = round(time.monotonic() - started, 2)
            self.figures["process_restarts"] = self.restarts
            return {**self.audit(before), **self.figures}
        finally:
            self.stop_all()
            self.drop_database()


def table(result: dict) -> str:
    rows = [
        (key.replace("_", " "), json.dumps(value) if isinstance(value, dict | list) else str(value))
        for key, value in result.items()
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


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
        help="scale the fault times and the Redis outage (0.5 with twice the game speed)",
    )
    parser.add_argument("--timeout", type=float, default=240, help="seconds to wait for every fleet to land")
    parser.add_argument("--pg-restart-cmd", default=default_pg_restart())
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()
    faults = () if args.faults == "none" else tuple(f.strip() for f in args.faults.split(","))
    unknown = set(faults) - set(ALL_FAULTS)
    if unknown:
        parser.error(f"unknown faults: {', '.join(sorted(unknown))}; choose from {', '.join(ALL_FAULTS)}")
    if "pg-restart" in faults and not args.pg_restart_cmd:
        parser.error("pg-restart needs --pg-restart-cmd (no local cluster found)")
    sys.path.insert(0, str(REPO))
    os.chdir(REPO)
    drill = Drill(
        workers=args.workers,
        fleets=args.fleets,
        faults=faults,
        postgres=args.postgres,
        game_speed=args.game_speed,
        pg_restart_cmd=args.pg_restart_cmd,
        timeout=args.timeout,
        dispatch_seconds=args.dispatch_seconds,
        time_scale=args.time_scale,
    )
    result = drill.run()
    result["faults"] = list(faults)
    result["logs"] = str(drill.log_dir)
    progress("")
    print(json.dumps(result) if args.json else table(result))
    ok = (
        result["lost"] == 0
        and result["duplicates"] == 0
        and result["resources_conserved"]
        and result["ships_conserved"]
        and result["battle_replays_differing"] == 0
    )
    return 0 if ok else 1


def default_pg_restart() -> str | None:
    if shutil.which("pg_ctlcluster") and Path("/etc/postgresql").is_dir():
        versions = sorted(os.listdir("/etc/postgresql"))
        if versions:
            return f"pg_ctlcluster --skip-systemctl-redirect {versions[-1]} main restart"
    return None


if __name__ == "__main__":
    sys.exit(main())
