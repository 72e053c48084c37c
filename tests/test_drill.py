"""The reduced fault drill: real web, scheduler and workers, real faults, then an audit.

Each run creates its own database and Redis (deploy/drill.py); the full drill stays a script.
"""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import Processes


def drill(processes: Processes, *args: str) -> dict:
    # four times the script's game speed at half its time scale: the same drill, shorter
    speed = ["--game-speed", "2000", "--time-scale", "0.5", "--dispatch-seconds", "6"]
    result = processes.run("deploy/drill.py", "--json", *speed, *args, env=dict(os.environ), timeout=400)
    assert result.stdout.strip(), result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def assert_nothing_lost_or_doubled(result: dict) -> None:
    assert result["lost"] == 0, result
    assert result["duplicates"] == 0, result
    assert result["events_applied"] == result["events_scheduled"], result
    assert result["resources_conserved"], result
    assert result["ships_conserved"], result
    assert result["battles_replayed"] > 0 and result["battle_replays_differing"] == 0, result
    assert result["dispatch_statuses"] == {"201": result["fleets"]}, result


def test_reduced_drill_with_sigkill_flushall_and_redis_stop(processes):
    result = drill(processes, "--workers", "2", "--fleets", "300", "--faults", "redis-stop,sigkill,flushall")
    assert_nothing_lost_or_doubled(result)
    assert all(seconds is not None and seconds < 30 for seconds in result["sigkill_recovery_s"]), result


@pytest.mark.parametrize("fault", ["sigkill", "flushall", "redis-stop"])
def test_each_fault_alone(processes, fault):
    result = drill(processes, "--workers", "2", "--fleets", "100", "--faults", fault)
    assert_nothing_lost_or_doubled(result)
    if fault == "sigkill":
        assert len(result["sigkill_recovery_s"]) == 3 and max(result["sigkill_recovery_s"]) < 30, result
    else:
        assert result[f"{fault.replace('-', '_')}_recovery_s"] is not None, result
