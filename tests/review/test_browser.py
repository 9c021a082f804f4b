"""The console in a real browser (Debian's chromium, headless, driven by Selenium): open the queue, review three
listings by keyboard alone, export, check the verdict JSONL; a title holding <script> and an onerror= attribute
shows as text and runs nothing. Screenshots of the queue, an item and the dashboard are kept as test artefacts (in
the test's tmp dir, and copied to $REVIEW_SCREENSHOTS when it is set)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from moddistill.review.app import create_app
from moddistill.teacher.expert_verdicts import read_expert_verdicts
from tests.review.conftest import HOSTILE_DESCRIPTION, HOSTILE_TITLE

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
                       reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver; "
                              ".ci/run installs them)"),
]


@pytest.fixture
def served(console):
    """The console on a free loopback port, served by uvicorn in a thread."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(console), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the console did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def keys(driver, *sequence: str) -> None:
    """Keys to the focused element (the page's body when nothing is focused), as a reviewer types them."""
    from selenium.webdriver.common.action_chains import ActionChains

    for k in sequence:
        ActionChains(driver).send_keys(k).perform()


def navigates(driver, action) -> None:
    """Do ``action`` and wait for the page it leads to: a mark left on the old page's window is gone from the new
    one. (Waiting for the old ``<html>`` element to go stale raced: chromedriver can answer "node does not belong to
    the document" while the old page unloads, so errors while the page changes are waited through.)"""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    driver.execute_script("window.__before_navigation = true")
    action()
    WebDriverWait(driver, 15, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.execute_script("return window.__before_navigation === undefined "
                                   "&& document.readyState === 'complete'"))


def screenshot(driver, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    for _ in range(2):  # the whole page: a taller window can reflow it, so measure again
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1400, height + 140)  # + the window's own chrome, which headless still counts
    assert driver.save_screenshot(str(path)) and path.stat().st_size > 10_000
    target = os.environ.get("REVIEW_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / name)
    return path


def test_three_listings_reviewed_by_keyboard_then_exported(served, browser, console, tmp_path):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(served + "/queue")
    assert "7 pending" in browser.find_element(By.CSS_SELECTOR, "header .progress").text
    assert browser.find_element(By.CSS_SELECTOR, "#queue tbody tr .title").text == HOSTILE_TITLE
    screenshot(browser, tmp_path, "review_queue.png")

    # listing 1 (r0, the hostile title): its markup is text, and nothing ran
    navigates(browser, lambda: keys(browser, "n"))
    assert browser.current_url.endswith("/items/r0")
    assert browser.find_element(By.ID, "listing-title").text == HOSTILE_TITLE
    assert browser.find_element(By.ID, "listing-description").text == HOSTILE_DESCRIPTION
    assert browser.find_elements(By.CSS_SELECTOR, "#listing img, #listing script") == []
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 - an alert() from the listing's markup would be open here
    screenshot(browser, tmp_path, "review_item.png")
    # the reviewer names themselves once (the console remembers), then: 1 ticks weapons, v submits "violates"
    browser.find_element(By.ID, "reviewer").send_keys("ana")
    keys(browser, Keys.ESCAPE, "1")
    assert browser.find_element(By.CSS_SELECTOR, "input[value=weapons]").is_selected()
    navigates(browser, lambda: keys(browser, "v"))
    # listing 2 (r1): allowed with a note
    assert browser.current_url.endswith("/items/r1")
    assert browser.find_element(By.ID, "reviewer").get_attribute("value") == "ana"
    keys(browser, "n")
    keys(browser, "no weapon in sight", Keys.ESCAPE)
    navigates(browser, lambda: keys(browser, "a"))
    # listing 3: escalated
    third = browser.current_url.rsplit("/", 1)[1]
    navigates(browser, lambda: keys(browser, "e"))

    navigates(browser, lambda: keys(browser, "q"))
    assert "3 pending" not in browser.page_source and "4 pending" in browser.find_element(
        By.CSS_SELECTOR, "header .progress").text
    navigates(browser, lambda: keys(browser, "x"))
    assert f"Exported 2 verdicts to {console.verdicts_out}" in browser.find_element(By.ID, "message").text
    stored = [(v.id, v.decision, v.violations, v.reviewer, v.note) for v in console.store.all()]
    assert stored == [("r0", "violates", ("weapons",), "ana", ""), ("r1", "allow", (), "ana", "no weapon in sight"),
                      (third, "escalate", (), "ana", "")]
    back = read_expert_verdicts([console.verdicts_out], console.policy)
    assert {lid: (v.violations, v.reviewer, v.note) for lid, v in back.standing.items()} == {
        "r0": (("weapons",), "ana", ""), "r1": ((), "ana", "no weapon in sight")}

    navigates(browser, lambda: keys(browser, "d"))
    assert "Moderation dashboard" in browser.page_source
    assert browser.find_elements(By.CSS_SELECTOR, "#kpis svg.chart") and browser.find_elements(
        By.CSS_SELECTOR, "#audit svg.chart")
    screenshot(browser, tmp_path, "review_dashboard.png")
