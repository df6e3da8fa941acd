"""The console in a real browser (issue 19): `syncd run` against the sandboxes, driven by headless Chromium.

An operator's path: open the console, search a ticket by its JIRA key, open its page, follow the link
to its JIRA record; then retry a dead letter and see it leave the dead list. The overview's
screenshot is checked for content and saved as docs/console-overview.png (the README shows it).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from syncd.sandbox._common.tickets import generate_tickets
from syncd.sandbox.cogny.sandbox import CognySandbox
from syncd.sandbox.jira.sandbox import JiraSandbox
from syncd.store.database import Store
from tests.support import ROOT
from tests.support.browser import chromium, distinct_colours, texts
from tests.support.config import jira_settings, write_config
from tests.support.daemon import SECRET, Daemon, event, inbox_of
from tests.support.process import free_port, wait_for

HOSTILE = "<script>document.title='pwned'</script> Shorten the signup form"
SCREENSHOT = ROOT / "docs" / "console-overview.png"


@pytest.fixture
def driver() -> Iterator[Any]:
    browser = chromium(1280, 1000)
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[dict[str, Any]]:
    tickets = generate_tickets(8, seed=19)
    tickets[0]["title"] = HOSTILE
    with CognySandbox(tickets) as cogny, JiraSandbox() as jira:
        port = free_port()
        cfg = write_config(tmp_path / "syncd.yaml", cogny.url, {"jira": jira_settings(jira.url)}, extra={
            "webhook": {"host": "127.0.0.1", "port": port, "secret": SECRET},
            "schedule": {"interval_seconds": 3600},
            "inbox": {"max_attempts": 1, "backoff_seconds": 0.05, "max_backoff_seconds": 0.1},
            "sync": {"max_attempts": 1},
            "admin": {"actions": True}})
        d = Daemon(cfg, port, tmp_path / "daemon.log").start().wait_first_cycle()
        try:
            yield {"daemon": d, "cogny": cogny, "jira": jira, "tickets": tickets,
                   "db": Path(yaml.safe_load(cfg.read_text())["store"]["url"].removeprefix("sqlite:///"))}
        finally:
            d.stop()


def jira_link(db: Path, ticket_id: str) -> tuple[str, str]:
    store = Store.open(f"sqlite:///{db}", migrate=False)
    try:
        [link] = store.list_links(ticket_id=ticket_id, connector="jira")
        assert link.external_key and link.external_url
        return link.external_key, link.external_url
    finally:
        store.close()


def test_an_operator_finds_a_ticket_follows_it_to_jira_and_retries_a_dead_letter(
        live: dict[str, Any], driver: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    d, cogny, jira = live["daemon"], live["cogny"], live["jira"]
    hostile_id = live["tickets"][0]["id"]
    key, url = jira_link(live["db"], hostile_id)

    # A dead letter: JIRA fails every call while an edited ticket's event is worked (one attempt allowed).
    victim = live["tickets"][1]["id"]
    jira.faults.set(error_rate=1.0)
    cogny.edit_ticket(victim, title="Edited while JIRA was down")
    assert d.send(event(victim, "evt_browser_dead", "ticket.updated")).status_code == 202
    wait_for(lambda: any(e.event_id == "evt_browser_dead" and e.state == "dead"
                         for e in inbox_of(live["db"]).list(limit=50)), what="the event dead")
    jira.faults.clear()

    # 1. The overview: connectors, and the hostile title nowhere executed.
    driver.get(f"{d.admin_url}/")
    assert driver.find_element(By.CSS_SELECTOR, "#connectors tbody td").text == "jira"
    assert driver.find_element(By.ID, "inbox-dead").text == "1"
    # 2. Search by the JIRA key: the one hit opens the ticket's page.
    box = driver.find_element(By.ID, "search")
    box.send_keys(key, Keys.ENTER)
    wait_for(lambda: texts(driver, By.TAG_NAME, "h1") == [hostile_id], what="the ticket page")
    assert driver.title != "pwned" and driver.title.startswith(hostile_id)
    assert driver.find_element(By.CSS_SELECTOR, "dd.title").text == HOSTILE  # shown as text, not run
    # 3. Its JIRA record, one click away.
    driver.find_element(By.CSS_SELECTOR, "#record-jira a.external").click()
    wait_for(lambda: driver.current_url == url, what="the JIRA record's page")
    assert url == f"{jira.url}/browse/{key}"

    # 4. The dead list, Retry, and the event leaves it once a worker has processed it.
    driver.get(f"{d.admin_url}/events?state=dead")
    rows = driver.find_elements(By.CSS_SELECTOR, "tr.event.dead")
    assert [r.find_elements(By.TAG_NAME, "td")[4].text for r in rows] == [victim]
    rows[0].find_element(By.CSS_SELECTOR, "button.retry").click()
    wait_for(lambda: driver.find_elements(By.ID, "retried"), what="the retry answered")
    assert driver.find_element(By.ID, "retried").text == "1 event(s) queued again"

    def gone_from_dead_list() -> bool:
        driver.get(f"{d.admin_url}/events?state=dead")
        return not driver.find_elements(By.CSS_SELECTOR, "tr.event.dead")

    wait_for(gone_from_dead_list, interval=0.5, what="the event leaving the dead list")
    wait_for(lambda: any(e.event_id == "evt_browser_dead" and e.state == "done"
                         for e in inbox_of(live["db"]).list(limit=50)), what="the retried event done")

    # 5. The overview's screenshot: not blank, and the README's picture.
    driver.get(f"{d.admin_url}/")
    time.sleep(0.2)  # let the layout settle (fonts); the picture is not a pass/fail condition
    png = driver.get_screenshot_as_png()
    assert distinct_colours(png) > 20, "the screenshot looks blank"
    SCREENSHOT.write_bytes(png)
