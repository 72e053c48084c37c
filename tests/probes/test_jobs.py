"""probe:update through real worker processes, and two runs at once."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from django.db.models import Sum
from django.utils import timezone

from combat.models import Report
from galactic.events import queue
from galactic.models import Planet
from galactic.ships import SHIPS
from probes.models import Notice, ProbeMission
from probes.services import probe_dispatch

pytestmark = pytest.mark.django_db(transaction=True)

NO_PRODUCTION = {"metal_per_hour": 0, "crystal_per_hour": 0, "deuterium_per_hour": 0}
NO_SHIPS = dict.fromkeys(SHIPS, 0)


@pytest.fixture(autouse=True)
def fast_universe(settings):
    settings.GAME_SPEED = 100_000  # flights of 0 s: every mission is due at once
    settings.GAME_EVENT_RESULT_TTL = 600  # keep finished runs, to read their results back


def probes_everywhere() -> int:
    """Probes on planets, probes in flight, and probes shot down: constant through any run."""
    on_planets = Planet.objects.aggregate(n=Sum("espionage_probe"))["n"]
    missions = ProbeMission.objects.aggregate(alive=Sum("count"), launched=Sum("launched"))
    flying = ProbeMission.objects.filter(status__in=("outbound", "returning")).aggregate(n=Sum("count"))["n"]
    lost = (missions["launched"] or 0) - (missions["alive"] or 0)
    return on_planets + (flying or 0) + lost


def test_probe_update_runs_a_mission_from_launch_to_landing(redis_conn, processes, make_player):
    alice = make_player("alice", **NO_PRODUCTION)
    bob = make_player("bob", **NO_PRODUCTION, **NO_SHIPS)
    mission = probe_dispatch(player=alice.player, origin_id=alice.home.pk, target_id=bob.home.pk, count=5)
    assert Planet.objects.get(pk=alice.home.pk).espionage_probe == 15

    queue.put("probes.jobs.probe_update", job_id="probe-update-1", at=datetime.now(UTC))
    processes.run_burst_worker()

    mission.refresh_from_db()
    assert mission.status == ProbeMission.Status.COMPLETED, processes.logs()
    assert mission.discovered is False and mission.count == 5
    assert mission.report.kind == "espionage"
    assert mission.report.data["sections"] == ["resources", "ships", "defences"]  # S = 5
    assert Planet.objects.get(pk=alice.home.pk).espionage_probe == 20
    job = queue.get_queue().fetch_job("probe-update-1")
    assert job.return_value() == {"batches": 2, "arrived": 1, "discovered": 0, "destroyed": 0, "returned": 1}


def test_probe_update_twice_changes_nothing_more(redis_conn, processes, make_player):
    alice = make_player("alice", **NO_PRODUCTION)
    bob = make_player("bob", **NO_PRODUCTION)
    probe_dispatch(player=alice.player, origin_id=alice.home.pk, target_id=bob.home.pk, count=1)
    queue.put("probes.jobs.probe_update", job_id="probe-update-1", at=datetime.now(UTC))
    processes.run_burst_worker()
    queue.put("probes.jobs.probe_update", job_id="probe-update-2", at=datetime.now(UTC))
    processes.run_burst_worker()

    second = queue.get_queue().fetch_job("probe-update-2").return_value()
    assert second["batches"] == 0, processes.logs()
    assert Report.objects.count() == 1 and Notice.objects.count() == 1


ADVANCE = """
import json, sys, time
from datetime import datetime
import django
django.setup()
from probes.services import probe_missions_advance
start_at, now = float(sys.argv[1]), datetime.fromisoformat(sys.argv[2])
time.sleep(max(0.0, start_at - time.time()))  # both processes start their run at the same moment
print("COUNTS " + json.dumps(probe_missions_advance(now=now, batch_size=4)), flush=True)
"""


def make_due_missions(make_player) -> list[ProbeMission]:
    """240 missions from 4 senders at 3 targets: one that discovers (and kills) every probe, one
    that never discovers, and one that discovers but cannot shoot."""
    senders = [make_player(f"spy{i}", **NO_PRODUCTION, espionage_probe=1000) for i in range(4)]
    targets = [
        make_player("armed", **NO_PRODUCTION),
        make_player("empty", **NO_PRODUCTION, **NO_SHIPS),
        make_player("probes", **NO_PRODUCTION, **{**NO_SHIPS, "espionage_probe": 500}),
    ]
    return [
        probe_dispatch(
            player=sender.player, origin_id=sender.home.pk, target_id=target.home.pk, count=1 + n % 3
        )
        for n in range(20)
        for sender in senders
        for target in targets
    ]


def test_two_runs_at_once_handle_each_mission_exactly_once(redis_conn, processes, make_player):
    missions = make_due_missions(make_player)
    total = probes_everywhere()
    now = timezone.now()
    start_at = time.time() + 3
    runs = [processes.start("-c", ADVANCE, str(start_at), now.isoformat(), name="advance") for _ in range(2)]
    for run in runs:
        assert run.wait(timeout=120) == 0, processes.logs()

    counts = [
        json.loads(line.removeprefix("COUNTS "))
        for log in sorted(processes.log_dir.glob("advance-*.log"))
        for line in log.read_text().splitlines()
        if line.startswith("COUNTS ")
    ]
    assert len(counts) == 2
    assert all(c["arrived"] > 0 for c in counts), counts  # both really worked, side by side
    assert sum(c["arrived"] for c in counts) == len(missions)
    assert sum(c["returned"] for c in counts) + sum(c["destroyed"] for c in counts) == len(missions)

    assert ProbeMission.objects.filter(status__in=("outbound", "returning")).count() == 0
    assert Report.objects.filter(kind="espionage").count() == len(missions)
    assert ProbeMission.objects.filter(report__isnull=True).count() == 0
    discovered_at_players = ProbeMission.objects.filter(discovered=True).count()
    assert Notice.objects.count() == discovered_at_players
    assert probes_everywhere() == total
