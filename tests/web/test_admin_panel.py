"""The admin's queue panel as an operator sees it: headless Chromium against a live server.

The figures must read as a panel (no column squashed to a letter a line), the links to the
dashboard and the stuck events must stand out from their background, and lateness shows in
milliseconds read from the samples, game events apart from periodic jobs. The screenshot goes to
the test's tmp_path, and to docs/screenshots/admin-queue.png when UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from galactic.events import metrics, queue
from tests.web.test_browser import CHROMIUM_ARGS, Screenshots, find_browser, wait

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[WebDriver]:
    binary, chromedriver = find_browser()
    options = Options()
    options.binary_location = binary
    for arg in CHROMIUM_ARGS:
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    logs = tmp_path / "chromium"
    logs.mkdir()
    service = Service(executable_path=chromedriver, log_output=str(logs / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def some_history(redis_conn) -> None:
    """What workers would have counted: game events a few ms late, periodic jobs about 1 s late."""
    for i in range(300):
        metrics.record(f"fleet-arrival-{i}", ok=True, lateness=0.002 + (i % 50) * 0.0002, duration=0.004)
    metrics.record("fleet-return-1", ok=False, final=False, lateness=0.003, duration=0.01)
    for due in range(5):
        metrics.record(f"probe-update-{1764430000 + due * 60}", ok=True, lateness=0.95, duration=0.05)
    metrics.flush(redis_conn)
    queue.put("tests.jobs.record", job_id="later-1", at=queue.datetime.now(queue.UTC).replace(year=2100))


def contrast(fg: str, bg: str) -> float:
    """WCAG contrast ratio of two CSS rgb()/rgba() colours."""

    def luminance(css: str) -> float:
        r, g, b = (int(x) / 255 for x in re.findall(r"[\d.]+", css)[:3])
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    high, low = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def effective_background(driver: WebDriver, element) -> str:
    """The first non-transparent background colour from the element up."""
    return driver.execute_script(
        """
        for (let el = arguments[0]; el; el = el.parentElement) {
            const bg = getComputedStyle(el).backgroundColor;
            if (bg && bg !== 'rgba(0, 0, 0, 0)' && bg !== 'transparent') return bg;
        }
        return 'rgb(255, 255, 255)';
        """,
        element,
    )


def test_the_queue_panel_reads_as_a_panel(live_server, redis_conn, chromium, tmp_path):
    get_user_model().objects.create_user("ops", password="ops-password", is_staff=True, is_superuser=True)
    some_history(redis_conn)
    driver = chromium
    driver.get(f"{live_server.url}/admin/login/?next=/admin/")
    driver.find_element(By.NAME, "username").send_keys("ops")
    driver.find_element(By.NAME, "password").send_keys("ops-password")
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    panel = wait(driver, lambda d: d.find_element(By.ID, "queue-figures"), message="no queue panel")

    figures = panel.find_elements(By.CSS_SELECTOR, ".queue-figure")
    assert [f.find_element(By.TAG_NAME, "dt").text.lower() for f in figures][:3] == [
        "waiting",
        "running",
        "delayed",
    ]
    for figure in figures:  # each figure a readable tile, its value on one line
        value = figure.find_element(By.CSS_SELECTOR, ".value")
        assert figure.size["width"] >= 100, figure.text
        assert value.size["height"] < 2 * float(value.value_of_css_property("font-size").removesuffix("px"))

    for link in panel.find_elements(By.CSS_SELECTOR, ".queue-panel-links a"):
        ratio = contrast(link.value_of_css_property("color"), effective_background(driver, link))
        assert link.is_displayed() and ratio >= 4.5, (link.text, ratio)
    assert {a.text for a in panel.find_elements(By.CSS_SELECTOR, ".queue-panel-links a")} == {
        "Queue dashboard",
        "Stuck events",
        "Find an event",
    }

    rows = {
        row.find_element(By.TAG_NAME, "th").text: [td.text for td in row.find_elements(By.TAG_NAME, "td")]
        for row in panel.find_elements(By.CSS_SELECTOR, ".queue-panel-recent tbody tr")
    }
    game, periodic = rows["game events"], rows["periodic jobs"]
    assert game[:3] == ["60.0", "1", "0"]  # 300 events run over 5 minutes; one retried, none failed
    for cell in game[3:] + periodic[3:]:
        assert re.fullmatch(r"\d+\.\d ms", cell), cell  # milliseconds from the data, no bucket bound
    assert float(game[4].split()[0]) < 20 and float(periodic[3].split()[0]) == 950.0
    for header in panel.find_elements(By.CSS_SELECTOR, ".queue-panel-recent th"):
        assert header.size["width"] >= 40, header.text  # no column squashed to a letter a line

    shot = Screenshots(driver, tmp_path / "screenshots").take("admin-queue", panel)
    assert shot.stat().st_size > 5000
