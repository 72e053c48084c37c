"""The players' web page end to end: headless Chromium (Selenium, Debian's chromium and
chromium-driver) against a live server and a real worker process.

Log in through the form, read the planets, see a refused dispatch explained next to its field,
attack an NPC base, watch the countdowns reach zero as the worker moves the fleet on, read the
battle report, browse the galaxy. Screenshots go to the test's tmp_path, and into docs/screenshots/
(for the README) when UPDATE_SCREENSHOTS=1.

Outside CI the test is skipped when chromium or chromedriver is missing; in CI (CI set) it fails,
because deploy/test.sh installs them there.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from combat.models import Report
from combat.services import npc_seed
from fleets.models import Fleet
from galactic.services import player_create
from probes.models import ProbeMission
from tests.conftest import REPO, process_env

pytestmark = pytest.mark.django_db(transaction=True)

# Same system (1:1:4 -> 1:1:2), battleships at 100 %: 3527 s at speed 1, about 6 s each way here.
GAME_SPEED = 600
PASSWORD = "correct horse battery"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1300",
    "--lang=en-US",
]
SCREENSHOTS = REPO / "docs" / "screenshots"


def find_browser() -> tuple[str, str]:
    """Paths of chromium and chromedriver; skip (or, in CI, fail) when either is missing."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    missing = [name for name, path in (("chromium", chromium), ("chromedriver", driver)) if not path]
    if missing:
        reason = f"{' and '.join(missing)} not installed (apt-get install -y chromium chromium-driver)"
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"CI is set but {reason}: deploy/test.sh should have installed them")
        pytest.skip(reason)
    return chromium, driver


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    chromium, chromedriver = find_browser()
    options = Options()
    options.binary_location = chromium
    for arg in CHROMIUM_ARGS:
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")  # a fresh profile
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: Selenium Manager (which would download a driver) never runs.
    logs = tmp_path / "chromium"  # not in tmp_path itself, where processes.logs() reads *.log
    logs.mkdir()
    service = Service(executable_path=chromedriver, log_output=str(logs / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


class Screenshots:
    """One PNG per page section, in tmp_path; copied into docs/screenshots/ on UPDATE_SCREENSHOTS=1."""

    def __init__(self, driver: WebDriver, directory: Path) -> None:
        self.driver = driver
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.taken: list[Path] = []

    def take(self, name: str, element: WebElement | None = None) -> Path:
        path = self.directory / f"{name}.png"
        if element is None:
            assert self.driver.save_screenshot(str(path))
        else:
            self.driver.execute_script(
                "arguments[0].scrollIntoView({block: 'start', behavior: 'instant'})", element
            )
            settle(self.driver)  # the sticky header and any smooth scroll
            assert element.screenshot(str(path))
        assert path.stat().st_size > 1000
        self.taken.append(path)
        if os.environ.get("UPDATE_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, SCREENSHOTS / path.name)
        return path


def wait(driver: WebDriver, condition, timeout: float = 15, message: str = "", logs=None):
    """Poll `condition(driver)` until truthy; the page re-draws lists, so stale elements are retried.
    On a timeout, `logs()` (the worker's output) is added to the message."""
    waiter = WebDriverWait(
        driver, timeout, poll_frequency=0.1, ignored_exceptions=[StaleElementReferenceException]
    )
    try:
        return waiter.until(lambda d: condition(d), message)
    except TimeoutException:
        if logs is None:
            raise
        raise TimeoutException(f"{message}\n{logs()}") from None


def fleet_row(driver: WebDriver, fleet_id: int) -> dict | None:
    """What the fleets list shows for one fleet, read in one script (the list is re-drawn live)."""
    return driver.execute_script(
        """
        const row = document.querySelector(`#fleet-list tr[data-kind="fleet"][data-id="${arguments[0]}"]`);
        if (!row) return null;
        const left = (cell) => row.querySelector(`${cell} .countdown`)?.dataset.remaining ?? null;
        return {
            status: row.dataset.status,
            arrive: row.querySelector(".arrive").innerText,
            arrive_left: left(".arrive"),
            return: row.querySelector(".return").innerText,
            return_left: left(".return"),
            report: !!row.querySelector(".report-button"),
        };
        """,
        fleet_id,
    )


def visible(driver: WebDriver, selector: str) -> WebElement | None:
    for element in driver.find_elements(By.CSS_SELECTOR, selector):
        if element.is_displayed():
            return element
    return None


def settle(driver: WebDriver) -> None:
    """Wait for a smooth scroll started by the page (e.g. to the dispatch form) to end."""
    last = None
    for _ in range(30):
        now = driver.execute_script("return window.scrollY")
        if now == last:
            return
        last = now
        time.sleep(0.1)


def click(driver: WebDriver, element: WebElement) -> None:
    """Scroll the element to the middle of the window at once (not behind the sticky header), click."""
    settle(driver)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", element)
    element.click()


def amount(text: str) -> int:
    return int(re.sub(r"[^0-9]", "", text))


@pytest.fixture(autouse=True)
def fast_universe(settings):
    settings.GAME_SPEED = GAME_SPEED  # the live server runs in this process


def test_log_in_dispatch_watch_the_countdown_and_read_the_report(
    live_server, redis_conn, processes, browser, tmp_path
):
    alice = player_create(username="alice", password=PASSWORD)
    npc = npc_seed(count=1)[0]
    env = process_env(GAME_SPEED=str(GAME_SPEED), PROBE_UPDATE_INTERVAL="1")
    processes.worker("--with-scheduler", env=env)  # fleet arrivals and returns
    processes.start("manage.py", "rqscheduler", env=env, name="scheduler")  # probe:update, every second
    driver, shots = browser, Screenshots(browser, tmp_path / "screenshots")

    # --- log in: the game page sends a visitor to /login/ ---------------------------------------
    driver.get(f"{live_server.url}/")
    assert driver.current_url.startswith(f"{live_server.url}/login/")
    driver.find_element(By.ID, "id_username").send_keys("alice")
    driver.find_element(By.ID, "id_password").send_keys("wrong password")
    driver.set_window_size(1024, 640)  # the login card alone, without a screenful of sky around it
    shots.take("login")
    driver.set_window_size(1280, 1300)
    click(driver, driver.find_element(By.CSS_SELECTOR, "form button[type=submit]"))
    error = wait(driver, lambda d: visible(d, ".form-status.error"), message="no login error")
    assert "correct username and password" in error.text
    driver.find_element(By.ID, "id_password").send_keys(PASSWORD)
    click(driver, driver.find_element(By.CSS_SELECTOR, "form button[type=submit]"))
    wait(driver, lambda d: d.current_url == f"{live_server.url}/", message="not sent to the game page")

    # --- planets: resources, production, ships; the amounts tick ----------------------------------
    card = wait(
        driver, lambda d: visible(d, f'.planet[data-planet-id="{alice.home.pk}"]'), message="no planet"
    )
    assert alice.home.name in card.text and f"[{alice.home.coords}]" in card.text
    assert "+3,000/h" in card.text and "Battleship" in card.text
    metal = card.find_element(By.CSS_SELECTOR, '.amount[data-resource="metal"]')
    first = amount(metal.text)
    assert first >= 500_000
    wait(driver, lambda d: amount(metal.text) > first, timeout=8, message="metal does not tick")
    shots.take("planets", driver.find_element(By.ID, "planets"))

    # --- a refused dispatch: the API's field error shows next to the field --------------------------
    form = driver.find_element(By.ID, "dispatch-form")
    assert Select(form.find_element(By.ID, "d-origin")).first_selected_option.get_attribute("value") == str(
        alice.home.pk
    )
    form.find_element(By.ID, "d-target").send_keys(str(npc.planet_id))
    battleships = form.find_element(By.ID, "d-ship-battleship")
    battleships.send_keys("999")
    click(driver, form.find_element(By.ID, "d-submit"))
    field_error = wait(
        driver, lambda d: visible(d, '[data-error-for="ships.battleship"]'), message="no field error"
    )
    assert field_error.text == "only 10 on the planet"
    # next to its input: in the same field box, and named by the input's aria-describedby
    assert field_error.find_element(By.XPATH, "..").find_element(By.ID, "d-ship-battleship")
    assert field_error.get_attribute("id") in battleships.get_attribute("aria-describedby").split()
    assert battleships.get_attribute("aria-invalid") == "true"
    assert "cannot launch this fleet" in driver.find_element(By.ID, "dispatch-status").text
    assert not Fleet.objects.exists()
    shots.take("dispatch-errors", driver.find_element(By.ID, "dispatch"))

    # --- probes, their target picked in the galaxy view ------------------------------------------------
    npc_row = f'#galaxy-view tr[data-planet-id="{npc.planet_id}"]'
    assert "NPC tier 1" in wait(driver, lambda d: visible(d, npc_row)).text
    click(driver, driver.find_element(By.CSS_SELECTOR, npc_row).find_element(By.XPATH, ".//button[.='Spy']"))
    assert form.find_element(By.ID, "d-target").get_attribute("value") == str(npc.planet_id)
    assert not field_error.is_displayed()  # changing the kind of dispatch cleared the old errors
    count = form.find_element(By.ID, "d-count")
    count.clear()
    count.send_keys("2")
    click(driver, form.find_element(By.ID, "d-submit"))
    status = wait(driver, lambda d: visible(d, "#dispatch-status.ok"), message="no launch message")
    assert "Probe mission #" in status.text, status.text

    # --- a valid attack, its target picked in the galaxy view -----------------------------------------
    click(
        driver, driver.find_element(By.CSS_SELECTOR, npc_row).find_element(By.XPATH, ".//button[.='Attack']")
    )
    assert form.find_element(By.ID, "d-target").get_attribute("value") == str(npc.planet_id)
    battleships.clear()
    battleships.send_keys("10")
    click(driver, form.find_element(By.ID, "d-submit"))
    status = wait(driver, lambda d: visible(d, "#dispatch-status.ok"), message="no launch message")
    assert field_error.is_displayed() is False
    fleet = Fleet.objects.get()
    assert f"Fleet #{fleet.pk} (attack) launched" in status.text

    # --- watch the arrival countdown reach zero, and the status change ------------------------------
    seen: list[int] = []  # the arrival countdown's successive values, in seconds

    def arrived(d: WebDriver) -> dict | None:
        row = fleet_row(d, fleet.pk)
        if row is None:
            return None
        if row["status"] != "outbound":
            return row
        if row["arrive_left"] is not None and (not seen or seen[-1] != int(row["arrive_left"])):
            seen.append(int(row["arrive_left"]))
        return None

    row = wait(driver, arrived, timeout=30, message="the fleet never arrived", logs=processes.logs)
    assert len(seen) >= 3 and seen == sorted(seen, reverse=True), seen  # it counted down ...
    # ... to zero (the page polls from there; a worker that is quicker than the 0.1 s sampling here
    # may leave only the 1 seen), and then the worker's arrival changed the status.
    assert seen[-1] <= 1, seen
    assert row["status"] == "returning" and row["arrive"] == "arrived" and row["report"], row
    assert int(row["return_left"]) > 0, row  # now the return counts down
    shots.take("fleets", driver.find_element(By.ID, "fleets"))

    # --- the battle report ------------------------------------------------------------------------------
    click(driver, driver.find_element(By.CSS_SELECTOR, f'tr[data-id="{fleet.pk}"] .report-button'))
    report = wait(
        driver, lambda d: visible(d, '#report-view article[data-kind="battle"]'), message="no report"
    )
    fleet.refresh_from_db()
    stored = Report.objects.get(pk=fleet.report_id)
    assert f"Battle report #{stored.pk}" in report.text
    assert stored.data["outcome"] == "attacker"
    assert "Victory for the attacker" in report.find_element(By.CSS_SELECTOR, ".outcome").text
    loot = report.find_element(By.CSS_SELECTOR, ".loot").text
    assert stored.data["loot"]["metal"] > 0
    for name, value in stored.data["loot"].items():
        if value:
            assert re.search(rf"{name.capitalize()}\s+{value:,}\b", loot), (name, value, loot)
    shots.take("report", driver.find_element(By.ID, "report"))

    # --- the espionage report of the probes (probe:update has handled their arrival by now) ------------
    probes = 'tr[data-kind="probes"] .report-button'
    click(
        driver, wait(driver, lambda d: visible(d, probes), message="no espionage report", logs=processes.logs)
    )
    spied = wait(driver, lambda d: visible(d, '#report-view article[data-kind="espionage"]'))
    seen_metal = ProbeMission.objects.select_related("report").get().report.data["resources"]["metal"]
    assert "Accuracy 50 %" in spied.text and f"{seen_metal:,}" in spied.text, spied.text  # resources, ships

    # --- the return countdown reaches zero too: the fleet lands, the planet has its ships back --------
    landed = wait(
        driver,
        lambda d: (row := fleet_row(d, fleet.pk)) and row["status"] == "completed" and row,
        timeout=30,
        message="the fleet never landed",
        logs=processes.logs,
    )
    assert landed["return"] == "landed", landed
    home_card = f'.planet[data-planet-id="{alice.home.pk}"]'
    wait(
        driver,
        lambda d: re.search(r"Battleship\s+10\b", d.find_element(By.CSS_SELECTOR, home_card).text),
        message="the ships are not back",
    )

    # --- the galaxy: the defeated base, the player's own planet --------------------------------------------
    galaxy = driver.find_element(By.ID, "galaxy-form")
    system = galaxy.find_element(By.ID, "g-system")
    system.clear()
    system.send_keys("500")  # out of range: the API's error shows next to the field
    click(driver, galaxy.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    assert wait(driver, lambda d: visible(d, '[data-error-for="system"]'), message="no galaxy error")
    system.clear()
    system.send_keys(str(alice.home.system))
    click(driver, galaxy.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    npc_row = wait(
        driver,
        lambda d: (
            (r := visible(d, f'#galaxy-view tr[data-planet-id="{npc.planet_id}"]'))
            and "defeated" in r.text
            and r
        ),
        message="the NPC base is not shown defeated",
    )
    assert (
        "you"
        in driver.find_element(By.CSS_SELECTOR, f'#galaxy-view tr[data-planet-id="{alice.home.pk}"]').text
    )
    shots.take("galaxy", driver.find_element(By.ID, "galaxy"))

    # The page ran without a script error. (The refused requests above are logged by the browser as
    # network errors: those are expected.)
    log = driver.get_log("browser")
    severe = [entry for entry in log if entry["level"] == "SEVERE" and entry.get("source") != "network"]
    assert not severe, severe
    assert {path.name for path in shots.taken} == {
        f"{name}.png" for name in ("login", "planets", "dispatch-errors", "fleets", "report", "galaxy")
    }
