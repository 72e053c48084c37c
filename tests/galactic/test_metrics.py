"""Workers log one line per event and count events and lateness for /metrics and the admin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model

from galactic.events import metrics, queue
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_processed_events_show_in_metrics_logs_and_admin(client, redis_conn, processes, settings):
    soon = datetime.now(UTC) + timedelta(milliseconds=300)
    for i in range(5):
        queue.put("tests.jobs.record", job_id=f"thing-done-{i}", at=soon, args=("m",))
    queue.put("tests.jobs.fail_until", job_id="thing-broken-1", at=soon, args=("f", 99))
    worker = processes.worker("--with-scheduler")

    wait_for(lambda: "thing-broken-1" in queue.get_queue().failed_job_registry.get_job_ids(), timeout=30)
    wait_for(lambda: redis_conn.hget(metrics.TOTALS, "failed:thing-broken") == b"4", timeout=10)

    settings.METRICS_TOKEN = "scrape-me"
    assert client.get("/metrics").status_code == 403
    text = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"}).content.decode()
    assert 'game_events_processed_total{type="thing-done"} 5' in text
    assert 'game_events_failed_total{type="thing-broken"} 4' in text  # the first run and 3 retries
    # lateness counts first attempts only: a retry is late by design
    assert "game_events_lateness_seconds_count 6" in text
    assert 'game_events_lateness_seconds_bucket{le="+Inf"} 6' in text
    assert "game_events_early_total" not in text  # never before its time

    worker.terminate()
    worker.wait(timeout=10)
    log = processes.logs(tail=None)
    assert "event id=thing-done-0 type=thing-done lateness_ms=" in log
    assert "outcome=failed" in log

    staff = get_user_model().objects.create_user("ops", password="pw", is_staff=True, is_superuser=True)
    client.force_login(staff)
    page = client.get("/admin/").content.decode()
    assert "events / min (5 min)" in page and "lateness p99 (ms)" in page
    assert client.get("/metrics").status_code == 200


def test_percentiles_come_from_the_histogram(redis_conn):
    for lateness in [0.002] * 98 + [0.04, 0.3]:
        metrics.record("x-1", ok=True, lateness=lateness, duration=0.001)
    metrics.flush(redis_conn)
    figures = metrics.recent(redis_conn, minutes=1)
    assert figures.events_per_minute == 100
    assert figures.lateness_p50_ms == 5.0
    assert figures.lateness_p99_ms == 50.0
