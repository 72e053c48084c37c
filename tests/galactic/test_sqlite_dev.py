"""The development database: SQLite with a pool of two real workers (`rqworker-pool --num-workers 2`)
runs every event, none of them failing on "database is locked"; and `make run`'s summary of
where the game keeps its data."""

from __future__ import annotations

import json
from pathlib import Path

from galactic.events import queue
from tests.conftest import Processes, process_env, wait_for

DISPATCH = """
import json
from combat.models import NpcBase
from fleets.services import fleet_dispatch
from probes.services import probe_dispatch
from galactic.models import Player, Planet
npcs = list(NpcBase.objects.values_list("planet_id", flat=True))
sent = 0
for player in Player.objects.all():
    home = Planet.objects.filter(owner=player).first()
    for i in range(10):
        ships = {"light_fighter": 2} if i % 2 else {"small_cargo": 1}
        mission = "attack" if i % 2 else "transport"
        fleet_dispatch(player=player, origin_id=home.pk, target_id=npcs[i % len(npcs)], mission=mission,
                       ships=ships, cargo={}, speed=100)
        sent += 1
    probe_dispatch(player=player, origin_id=home.pk, target_id=npcs[0], count=1, speed=10)
print(sent)
"""
STATUSES = (
    "import json; from fleets.models import Fleet; from probes.models import ProbeMission; "
    "print(json.dumps(list(Fleet.objects.values_list('status', flat=True)) "
    "+ list(ProbeMission.objects.values_list('status', flat=True))))"
)


def run(processes: Processes, env: dict[str, str], *args: str) -> str:
    result = processes.run("manage.py", *args, env=env, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_two_workers_on_sqlite_run_every_event_without_locking_errors(tmp_path: Path, redis_conn, processes):
    env = process_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'dev.sqlite3'}",
        GAME_SPEED="5000",
        LOG_LEVEL="INFO",
        GAME_EVENT_BATCH_SIZE="1",  # a transaction per event: the most concurrent writers
        PROBE_UPDATE_INTERVAL="1",
        RECONCILE_INTERVAL="2",
    )
    run(processes, env, "migrate", "--noinput", "-v", "0")
    run(processes, env, "seed_galaxy", "--npcs", "3")
    for name in ("p1", "p2", "p3", "p4"):
        run(processes, env, "create_player", name)
    assert run(processes, env, "shell", "-v", "0", "-c", DISPATCH).strip() == "40"

    processes.start(
        "manage.py", "rqworker-pool", queue.QUEUE_NAME, "--num-workers", "2", env=env, name="pool"
    )
    processes.start("manage.py", "rqscheduler", env=env, name="scheduler")  # probe:update, reconcile

    def landed() -> bool:
        statuses = json.loads(run(processes, env, "shell", "-v", "0", "-c", STATUSES))
        return len(statuses) == 44 and set(statuses) <= {"completed", "destroyed"}

    try:
        wait_for(landed, timeout=120, interval=1)
    except AssertionError as exc:
        statuses = run(processes, env, "shell", "-v", "0", "-c", STATUSES)
        raise AssertionError(f"{exc}: {statuses}\n{processes.logs()}") from None
    logs = processes.logs(tail=None)
    assert "locked" not in logs, logs[-3000:]
    assert logs.count("outcome=ok") >= 40 and "outcome=error" not in logs


def test_the_start_up_summary_names_the_database_and_redis_and_warns_of_a_shared_database(redis_conn):
    from galactic.events.cli import startup_summary

    redis_conn.set("rq:queues-of-the-game", 1)
    assert "warning" not in startup_summary()

    redis_conn.set("session:of-another-program", 1)
    lines = startup_summary().splitlines()

    assert lines[0].startswith("==> database: postgresql ")
    where = queue.get_connection().connection_pool.connection_kwargs  # TEST_REDIS_URL's
    assert lines[1] == f"==> Redis: redis://{where['host']}:{where['port']}/{where['db']} (REDIS_URL)"
    assert lines[2].startswith("warning: this Redis database also holds 1 keys that are not the game's")
