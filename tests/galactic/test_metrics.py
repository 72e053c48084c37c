"""Workers log one line per event and count events and lateness for /metrics and the admin."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from galactic.events import admin_site, metrics, queue
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_processed_events_show_in_metrics_logs_and_admin(client, admin_user, redis_conn, processes, settings):
    soon = datetime.now(UTC) + timedelta(milliseconds=300)
    for i in range(5):
        queue.put("tests.jobs.record", job_id=f"thing-done-{i}", at=soon, args=("m",))
    queue.put("tests.jobs.fail_until", job_id="thing-broken-1", at=soon, args=("f", 99))
    worker = processes.worker("--with-scheduler")

    wait_for(lambda: "thing-broken-1" in queue.get_queue().failed_job_registry.get_job_ids(), timeout=30)
    wait_for(lambda: redis_conn.hget(metrics.TOTALS, "failed_final:thing-broken") == b"1", timeout=10)

    settings.METRICS_TOKEN = "scrape-me"
    assert client.get("/metrics").status_code == 403
    text = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"}).content.decode()
    assert 'game_events_processed_total{type="thing-done",kind="game"} 5' in text
    # the first run and 2 retries failed and were retried; the 3rd retry failed for good
    assert 'game_events_retried_total{type="thing-broken",kind="game"} 3' in text
    assert 'game_events_failed_total{type="thing-broken",kind="game"} 1' in text
    # lateness counts first attempts only (a retry is late by design); per event type
    assert 'game_events_lateness_seconds_count{type="thing-done",kind="game"} 5' in text
    assert 'game_events_lateness_seconds_bucket{type="thing-broken",kind="game",le="+Inf"} 1' in text
    assert 'game_events_duration_seconds_count{type="thing-broken",kind="game"} 4' in text
    assert "game_events_early_total{" not in text  # never before its time

    worker.terminate()
    worker.wait(timeout=10)
    log = processes.logs(tail=None)
    assert "event id=thing-done-0 type=thing-done lateness_ms=" in log
    assert "outcome=failed" in log

    client.force_login(admin_user)
    panel = admin_site.queue_panel()
    game = panel["kinds"][0].figures
    assert (game.events_per_minute, game.retried, game.failed) == (1.0, 3, 1)
    assert game.lateness_p50_ms is not None and game.lateness_p50_ms >= 0
    assert client.get("/admin/").status_code == 200
    assert client.get("/metrics").status_code == 200


@pytest.fixture
def within_one_minute(monkeypatch) -> None:
    """For a test that flushes figures and reads back the current minute's (`recent(minutes=1)`):
    it starts with at least 10 s left in the minute, so that the write and the read fall in the same
    one, and with nothing counted in this process by earlier tests."""
    while time.time() % 60 > 50:
        time.sleep(0.5)
    monkeypatch.setattr(metrics, "_pending", Counter())
    monkeypatch.setattr(metrics, "_samples", {kind: [] for kind in metrics.KINDS})
    monkeypatch.setattr(metrics, "_seen", Counter())


@pytest.mark.usefixtures("within_one_minute")
def test_percentiles_are_read_from_the_samples_in_milliseconds(redis_conn):
    for i in range(98):
        metrics.record(f"x-{i}", ok=True, lateness=0.0021 + i * 1e-6, duration=0.001)
    metrics.record("x-98", ok=True, lateness=0.0437, duration=0.001)
    metrics.record("x-99", ok=True, lateness=0.3012, duration=0.001)
    metrics.record("probe-update-1764430000", ok=True, lateness=0.9, duration=0.2)
    metrics.flush(redis_conn)
    figures = metrics.recent(redis_conn, minutes=1).kinds
    assert figures["game"].events_per_minute == 100
    assert figures["game"].lateness_p50_ms == pytest.approx(2.149, abs=0.001)  # a sample, not a bound
    assert figures["game"].lateness_p99_ms == pytest.approx(43.7)
    assert figures["game"].lateness_max_ms == pytest.approx(301.2)
    # the periodic job, about a second "late" by design, is kept apart from the game's events
    assert figures["periodic"].events_per_minute == 1
    assert figures["periodic"].lateness_max_ms == pytest.approx(900.0)


@pytest.mark.usefixtures("within_one_minute")
def test_a_busy_process_keeps_a_weighted_sample(redis_conn):
    many = metrics.SAMPLES_PER_FLUSH * 10
    for i in range(many):
        metrics.record(f"y-{i}", ok=True, lateness=0.001 if i % 2 else 0.009, duration=0.001)
    metrics.flush(redis_conn)
    kept = redis_conn.lrange(metrics.SAMPLES.format(int(time.time() // 60), "game"), 0, -1)
    assert len(kept) == metrics.SAMPLES_PER_FLUSH
    assert {float(entry.split()[1]) for entry in kept} == {10.0}  # each stands for 10 events
    figures = metrics.recent(redis_conn, minutes=1).kinds["game"]
    assert figures.lateness_p99_ms == 9.0 and figures.events_per_minute == many


@pytest.mark.parametrize(
    ("job_id", "kind"),
    [
        ("fleet-arrival-12", "fleet-arrival"),
        ("probe-update-1700000000", "probe-update"),  # a periodic run: the id and its due epoch
        ("reconcile-events", "reconcile-events"),  # no numeric tail: its own type
        ("-12", "-12"),  # never an empty type
    ],
)
@pytest.mark.django_db  # no database, no table to empty after it
def test_event_type_is_the_job_id_without_the_objects_id(job_id, kind):
    assert metrics.event_type(job_id) == kind
