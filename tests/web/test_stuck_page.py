"""The quarantined events as an operator sees them on the admin's stuck-events page: headless
Chromium against a live server. Each row says why, shows the attempt history and the last
traceback (folded), and releases the event with one click. The screenshot goes to the test's
tmp_path, and to docs/screenshots/stuck-quarantined.png when UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from selenium.webdriver.common.by import By

from galactic.events import attempts, queue
from galactic.events.models import EventAttempt
from tests.web.test_admin_panel import chromium  # noqa: F401 (a fixture)
from tests.web.test_browser import Screenshots, wait

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TRACEBACK = (
    "Traceback (most recent call last):\n" + "  File 'fleets/services.py', line 1\n" * 30 + "ValueError: boom"
)


def quarantined_event(redis_conn) -> str:
    """An event that failed its four attempts (and crashed once before), as a worker leaves it (its
    job in the failed registry, which the page does not need)."""
    job_id = "fleet-arrival-41"
    due = datetime.now(UTC) - timedelta(minutes=3)
    attempts.record(
        job_id, EventAttempt.Kind.CRASHED, worker="w-1", detail="its worker died mid-job; handed back"
    )
    for _ in range(attempts.failure_budget()):
        attempts.count_failure(redis_conn, job_id)
        attempts.record(job_id, EventAttempt.Kind.FAILED, worker="w-2", detail=TRACEBACK)
    attempts.quarantine(
        job_id,
        func="tests.jobs.record",
        args=["a"],
        due=due,
        reason=attempts.failure_reason(),
        error=TRACEBACK,
    )
    return job_id


def test_an_operator_reads_and_releases_a_quarantined_event(live_server, redis_conn, chromium, tmp_path):  # noqa: F811
    get_user_model().objects.create_user("ops", password="ops-password", is_staff=True, is_superuser=True)
    job_id = quarantined_event(redis_conn)
    driver = chromium
    driver.get(f"{live_server.url}/admin/login/?next=/admin/stuck-events/")
    driver.find_element(By.NAME, "username").send_keys("ops")
    driver.find_element(By.NAME, "password").send_keys("ops-password")
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    module = wait(
        driver, lambda d: d.find_element(By.ID, "quarantined-events"), message="no quarantine table"
    )

    assert module.find_element(By.TAG_NAME, "caption").text.lower() == "1 quarantined event"
    row = module.find_element(By.CSS_SELECTOR, "tbody tr")
    assert job_id in row.text and "failed 4 times" in row.text
    history = [li.text for li in row.find_elements(By.CSS_SELECTOR, ".attempts li")]
    assert len(history) == 5 and "crashed on w-1" in history[0] and history[-1].endswith("failed on w-2")
    folded = row.find_element(By.TAG_NAME, "details")
    assert folded.get_attribute("open") is None  # the traceback folded: the table stays readable
    width = driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], width  # nothing wider than the window
    shot = Screenshots(driver, tmp_path / "screenshots").take("stuck-quarantined", module)
    assert shot.stat().st_size > 5000

    row.find_element(By.CSS_SELECTOR, "button[value=requeue]").click()
    message = wait(
        driver, lambda d: d.find_element(By.CSS_SELECTOR, "ul.messagelist li"), message="no message"
    )
    assert f"{job_id}: released from quarantine; requeued, due now" in message.text.lower()
    assert "No quarantined events." in driver.find_element(By.ID, "quarantined-events").text
    assert queue.job_status(job_id) in ("queued", "scheduled")  # written again, due now
