"""deploy/monitoring/: the alert rules pass promtool (syntax and their unit tests), the dashboard is
valid JSON, and both use only metrics that GET /metrics serves."""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings

from galactic.settings import redis_config
from tests.conftest import REPO, wait_for

MONITORING = REPO / "deploy" / "monitoring"
IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false")
# Every metric the rules and the dashboard use is served now.
NOT_YET_SERVED: set[str] = set()
METRIC = re.compile(r"\b(game_events_[a-z_]+?)(?:_bucket|_sum|_count)?\b")


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if IN_CI:
            pytest.fail("promtool is missing in CI: deploy/test.sh installs Debian's prometheus package")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return path


@pytest.mark.parametrize(("action", "file"), [("check", "alerts.yml"), ("test", "alerts.test.yml")])
def test_alert_rules_pass_promtool(processes, action, file):
    result = processes.run_program(promtool(), action, "rules", file, cwd=MONITORING)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def dashboard_exprs() -> list[str]:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    assert dashboard["uid"] and dashboard["title"]
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    return [target["expr"] for panel in panels for target in panel["targets"]]


def rule_exprs() -> list[str]:
    return re.findall(r"expr: (.+(?:\n {10}.+)*)", (MONITORING / "alerts.yml").read_text())


@pytest.mark.django_db
def test_alerts_and_dashboard_use_only_metrics_that_metrics_serves(client, redis_conn):
    from galactic.events import metrics

    metrics.record("fleet-arrival-1", ok=True, lateness=0.002, duration=0.01)
    metrics.record("fleet-arrival-2", ok=False, lateness=0.003, duration=0.01)
    metrics.record("fleet-arrival-3", ok=True, lateness=-0.001, duration=0.01)  # counts as early
    metrics.flush(redis_conn)
    staff = get_user_model().objects.create_user("ops", is_staff=True)
    client.force_login(staff)
    served = set(
        re.findall(r"^(game_events_[a-z_]+?)(?:_bucket|_sum|_count)?[{ ]", client.get("/metrics").text, re.M)
    )

    used = {name for expr in dashboard_exprs() + rule_exprs() for name in METRIC.findall(expr)}

    assert len(rule_exprs()) == 6 and used
    assert used - NOT_YET_SERVED <= served, sorted(used - served)


@pytest.mark.django_db
def test_metrics_say_redis_is_down_as_a_gauge(client, processes, monkeypatch):
    server = processes.redis_server()
    proc = server.proc
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{server.port}/0")
    client.force_login(get_user_model().objects.create_user("ops", is_staff=True))
    with override_settings(RQ_QUEUES={"game_events": redis_config()}):
        wait_for(lambda: "game_events_redis_up 1" in client.get("/metrics").text, timeout=10)
        proc.terminate()
        proc.wait(timeout=10)
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.text.splitlines() == ["# TYPE game_events_redis_up gauge", "game_events_redis_up 0"]
