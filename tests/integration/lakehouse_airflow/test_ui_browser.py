"""The Airflow UI in headless Chromium (Debian's package), as an operator uses it: log
in with the generated admin password, find the ingestion DAG, unpause it, trigger a
run by clicking, and watch that run succeed."""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from lakehouse.config.settings import load_settings
from lakehouse.tables.signals import rows_for

from .conftest import ADMIN, E2E_DAG, AirflowServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
#: the React app renders after its bundle loads and re-renders on every poll; on two
#: busy cores that can take many seconds
UI_WAIT = 90
RUN_TIMEOUT = 240

pytestmark = pytest.mark.skipif(
    not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)),
    reason=(
        "Debian's chromium and chromium-driver are not installed (init.sh: apt-get install -y chromium chromium-driver)"
    ),
)

T = TypeVar("T")


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    # Selenium Manager must not try to download a driver or a browser.
    os.environ["SE_OFFLINE"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@contextmanager
def _evidence_on_failure(driver: WebDriver, directory: Path) -> Iterator[None]:
    try:
        yield
    except BaseException:
        shot, html = directory / "failure.png", directory / "failure.html"
        driver.save_screenshot(str(shot))
        html.write_text(driver.page_source)
        print(f"browser at {driver.current_url}; screenshot {shot}, page source {html}")
        raise


def _retrying(driver: WebDriver, action: Callable[[WebDriver], T], what: str) -> T:
    """Run `action` until it succeeds: React replaces elements under us while it re-renders."""

    def attempt(d: WebDriver) -> T | bool:
        try:
            return action(d) or False
        except StaleElementReferenceException:
            return False

    try:
        return WebDriverWait(driver, UI_WAIT, poll_frequency=0.5).until(attempt)
    except TimeoutException as exc:
        raise AssertionError(f"the UI never let us {what} within {UI_WAIT} s") from exc


def _click(driver: WebDriver, by: str, selector: str, what: str) -> None:
    def click(d: WebDriver) -> bool:
        element = EC.element_to_be_clickable((by, selector))(d)
        if not element:
            return False
        element.click()
        return True

    _retrying(driver, click, what)


def _listed_dags(driver: WebDriver) -> set[str]:
    """DAG ids the list links to (a DAG's card also links to its runs; those don't count)."""
    hrefs = (a.get_attribute("href") or "" for a in driver.find_elements(By.CSS_SELECTOR, "a[href*='/dags/']"))
    return {m.group(1) for h in hrefs if (m := re.search(r"/dags/([^/?#]+)/?$", h))}


def _switch_state(driver: WebDriver) -> str:
    return driver.find_element(By.CSS_SELECTOR, "[data-testid=toggle-pause]").get_attribute("data-state") or ""


def _run_row(driver: WebDriver, run_id: str) -> WebElement | None:
    for row in driver.find_elements(By.CSS_SELECTOR, "tbody tr"):
        if run_id in row.text:
            return row
    return None


def test_an_operator_logs_in_unpauses_and_triggers_the_dag_and_sees_it_succeed(
    airflow_server: AirflowServer, browser: WebDriver, tmp_path: Path
) -> None:
    server = airflow_server
    # Start from how a new deployment looks: the DAG paused (an earlier test may have run it).
    server.set_paused(E2E_DAG, True)
    runs_before = {r["dag_run_id"] for r in server.runs(E2E_DAG)}
    driver = browser

    with _evidence_on_failure(driver, tmp_path), server.paused_afterwards(E2E_DAG):
        driver.get(f"{server.url}/dags")
        _retrying(driver, lambda d: d.find_element(By.NAME, "username").is_displayed(), "see the login form")
        assert "/auth/login" in driver.current_url
        driver.find_element(By.NAME, "username").send_keys(ADMIN)
        driver.find_element(By.NAME, "password").send_keys(server.password)
        _click(driver, By.XPATH, "//button[@type='submit' and normalize-space()='Sign in']", "sign in")
        _retrying(driver, lambda d: "/auth/login" not in d.current_url, "get past the login page")

        # Find the DAG the way a user does: type its name in the DAG list's search box.
        driver.get(f"{server.url}/dags")
        search = _retrying(
            driver, lambda d: EC.element_to_be_clickable((By.CSS_SELECTOR, "[data-testid=search-dags]"))(d), "search"
        )
        search.send_keys(E2E_DAG)
        _retrying(driver, lambda d: _listed_dags(d) == {E2E_DAG}, f"see only {E2E_DAG} in the search results")
        _click(driver, By.LINK_TEXT, E2E_DAG, f"open {E2E_DAG}")
        _retrying(driver, lambda d: d.current_url.rstrip("/").endswith(f"/dags/{E2E_DAG}"), "reach the DAG page")

        # Paused shows as an unchecked switch; clicking it unpauses.
        _retrying(driver, lambda d: _switch_state(d) == "unchecked", "see the DAG paused")
        _click(driver, By.CSS_SELECTOR, "[data-testid=toggle-pause]", "click the pause switch")
        _retrying(driver, lambda d: _switch_state(d) == "checked", "see the DAG unpaused")
        # The switch flips before its request lands; what counts is Airflow's state.
        _retrying(driver, lambda d: server.get(f"dags/{E2E_DAG}")["is_paused"] is False, "unpause the DAG in Airflow")

        _click(driver, By.CSS_SELECTOR, "[data-testid=trigger-dag-button]", "open the trigger dialog")
        _retrying(
            driver,
            lambda d: any("Single Run" in x.text for x in d.find_elements(By.CSS_SELECTOR, "[role=dialog]")),
            "see the trigger dialog",
        )
        _click(driver, By.CSS_SELECTOR, "[data-testid=trigger-dag-submit]", "confirm the trigger")
        # The UI opens the new run's page; its id is in the URL.
        _retrying(driver, lambda d: "/runs/" in d.current_url, "land on the new run's page")
        run_id = driver.current_url.split("/runs/", 1)[1].split("/")[0].split("?")[0]
        new = [r for r in server.runs(E2E_DAG) if r["dag_run_id"] not in runs_before and r["run_type"] == "manual"]
        assert [r["dag_run_id"] for r in new] == [run_id], (run_id, new)
        assert new[0]["triggering_user_name"] == ADMIN

        # Watch the run in the UI's run list until it finishes.
        deadline = time.monotonic() + RUN_TIMEOUT
        state = ""
        while time.monotonic() < deadline:
            driver.get(f"{server.url}/dags/{E2E_DAG}/runs")
            row = _retrying(driver, lambda d: _run_row(d, run_id), "see the run in the run list")
            text = row.text
            if "Success" in text or "Failed" in text:
                state = "Success" if "Success" in text else "Failed"
                break
            time.sleep(5)
        assert state == "Success", f"run {run_id} shows {state or 'unfinished'} after {RUN_TIMEOUT} s"

    detail = server.get(f"dags/{E2E_DAG}/dagRuns/{quote(run_id, safe='')}")
    assert detail["state"] == "success"
    # The run really ingested: its crawl landed and its slot has exactly one signal row.
    crawl = server.crawl_run_id(E2E_DAG, run_id)
    assert len(rows_for(load_settings(), crawl)) == 1
