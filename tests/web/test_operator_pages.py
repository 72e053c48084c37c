"""Pages seen in headless Chromium against a live server and a real worker: the fleets table of the
players' page fits a 1280 px window, and the admin's find-an-event page (screenshots into
docs/screenshots/ with UPDATE_SCREENSHOTS=1, as tests/web/test_browser.py does)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from selenium.webdriver.common.by import By

from combat.services import npc_seed
from fleets import schedules
from fleets.models import Fleet
from fleets.services import fleet_dispatch
from galactic.services import player_create
from probes.services import probe_dispatch
from tests.conftest import process_env, wait_for
from tests.galactic.test_stuck_events import make_overdue
from tests.web.test_browser import GAME_SPEED, PASSWORD, Screenshots, wait
from tests.web.test_browser import browser as browser  # a fixture

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

MANY_SHIPS = {"light_fighter": 20, "heavy_fighter": 10, "cruiser": 5, "small_cargo": 3, "large_cargo": 5}


@pytest.fixture(autouse=True)
def fast_universe(settings):
    settings.GAME_SPEED = GAME_SPEED  # the live server runs in this process


def played_round(processes) -> tuple:
    """alice's attack, transport and probes, landed and reported by a real worker, and one attack
    still outbound with five kinds of ships (the widest row of the fleets table)."""
    alice = player_create(username="alice", password=PASSWORD)
    npcs = npc_seed(count=2)
    processes.worker("--with-scheduler", env=process_env(GAME_SPEED=str(GAME_SPEED)))
    home = alice.home.pk

    def send(mission: str, ships: dict, target: int, **cargo: int) -> Fleet:
        return fleet_dispatch(
            player=alice.player, origin_id=home, target_id=target, mission=mission, ships=ships, cargo=cargo
        )

    done = [
        send("attack", {"battleship": 5, "large_cargo": 2}, npcs[0].planet_id),
        send("transport", {"small_cargo": 2}, npcs[1].planet_id, metal=5000, crystal=2000),
    ]
    probe_dispatch(player=alice.player, origin_id=home, target_id=npcs[1].planet_id, count=2, speed=100)
    try:
        wait_for(lambda: all(Fleet.objects.get(pk=f.pk).report_id for f in done), timeout=60)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{processes.logs()}") from None
    flying = send("attack", MANY_SHIPS, npcs[1].planet_id, deuterium=1000)
    return alice, npcs, flying


def log_in(driver, url: str, name: str, password: str, submit: str = "form button[type=submit]") -> None:
    driver.get(url)
    driver.find_element(By.ID, "id_username").send_keys(name)
    driver.find_element(By.ID, "id_password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, submit).click()


def test_the_fleets_table_keeps_its_report_column_inside_the_panel_at_1280_px(
    live_server, redis_conn, processes, browser, tmp_path
):
    played_round(processes)
    browser.set_window_size(1280, 1000)  # with a vertical scrollbar: the page is longer than that
    log_in(browser, f"{live_server.url}/login/", "alice", PASSWORD)
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#fleet-list .report-button")) >= 2)

    fits = browser.execute_script(
        """
        const wrap = document.querySelector('#fleet-list .table-wrap');
        const report = [...wrap.querySelectorAll('td.report')].map(td => td.getBoundingClientRect().right);
        const scrollbar = window.innerWidth - document.documentElement.clientWidth;
        return {overflow: wrap.scrollWidth - wrap.clientWidth, right: Math.max(...report),
                panel: wrap.getBoundingClientRect().right, scrollbar: scrollbar};
        """
    )
    assert fits["scrollbar"] > 0  # measured as a person sees it, a scrollbar taking its room
    assert fits["overflow"] <= 0, fits
    assert fits["right"] <= fits["panel"], fits
    assert browser.find_element(By.ID, "fleets").screenshot(str(tmp_path / "fleets-1280.png"))  # to look at


def test_find_an_event_shows_the_row_the_job_and_the_report(
    live_server, redis_conn, processes, browser, tmp_path
):
    _, _, flying = played_round(processes)
    processes.stop_all()  # from here on no worker: an overdue arrival stays stuck
    get_user_model().objects.create_superuser("ops", password=PASSWORD)
    shots = Screenshots(browser, tmp_path / "screenshots")
    browser.set_window_size(1280, 1400)
    log_in(browser, f"{live_server.url}/admin/login/", "ops", PASSWORD, submit="input[type=submit]")
    wait(browser, lambda d: "/admin/login/" not in d.current_url)

    browser.get(f"{live_server.url}/admin/find-event/?q=alice")
    page = browser.find_element(By.ID, "content")
    assert f"Fleet {flying.pk}: attack, outbound" in page.text
    assert schedules.arrival_job_id(flying.pk) in page.text and "scheduled" in page.text
    assert "Report #" in page.text and '"kind": "battle"' in page.text
    shots.take("find-event", page)

    make_overdue(flying, timedelta(minutes=5))
    redis_conn.delete(f"rq:job:{schedules.arrival_job_id(flying.pk)}")
    browser.get(f"{live_server.url}/admin/find-event/?q={schedules.arrival_job_id(flying.pk)}")
    page = browser.find_element(By.ID, "content")
    assert "missing" in page.text and "overdue by 5 min" in page.text
    buttons = [b.text for b in page.find_elements(By.CSS_SELECTOR, ".jobs button")]
    assert buttons == ["Process now", "Requeue", "Send the fleet home"]
    shots.take("find-event-stuck", page)

    page.find_element(By.XPATH, "//button[text()='Process now']").click()
    message = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "ul.messagelist li"))
    assert message[0].text.lower() == f"{schedules.arrival_job_id(flying.pk)}: processed"  # CSS capitalises
    assert Fleet.objects.get(pk=flying.pk).status != Fleet.Status.OUTBOUND
