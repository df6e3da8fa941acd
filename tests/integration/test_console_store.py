"""The console's queries on SQLite and on a real PostgreSQL server (issue 19): same pages, same answers.

PostgreSQL is stricter than SQLite (GROUP BY must repeat the select's expressions, ILIKE for case),
so every page is rendered on both, over the same rows, and the numbers are compared with the rows.
"""

from __future__ import annotations

import json
import warnings
from datetime import datetime, timedelta, timezone
from typing import Iterator

import pytest

from syncd import config as config_mod
from syncd.console import Console, Csrf, Sources
from syncd.store import views
from syncd.store.database import RunCounts, Store
from syncd.store.inbox import Inbox, NewEvent

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

CONFIG = """
cogny: {api_key: sk_console_integration_key}
admin: {actions: true}
connectors:
  jira: {type: jira, url: "https://jira.example.com", email: bot@example.com, api_token: token-123456789,
         project: GROWTH}
"""


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store.open(store_url)
    yield s
    s.close()


def seed(store: Store) -> dict[str, int]:
    for i, (title, error) in enumerate([("Shorten the Signup form", None), ("Referral banner", "jira: 400"),
                                        ("Pricing page trial", None)]):
        link, _ = store.claim_create(f"tkt_i{i}", "jira")
        link.state, link.external_id, link.external_key = "synced", f"1000{i}", f"GROWTH-{i}"
        link.applied = {"record": {"summary": title}, "items": {}}
        link.last_error, link.synced_at = error, datetime.now(timezone.utc)
        store.save_link(link)
    store.claim_create("tkt_i3", "jira")  # creating
    once, often = Inbox(store.engine, max_attempts=1), Inbox(store.engine, max_attempts=5)
    once.add(NewEvent("e_dead", "ticket.updated", "tkt_i0", "{}"))
    [dead] = once.claim("w")
    assert once.fail(dead, "boom") == "dead"
    often.add(NewEvent("e_retry", "ticket.updated", "tkt_i1", "{}"))
    [retry] = often.claim("w")
    assert often.fail(retry, "boom") == "pending"  # retrying
    often.add(NewEvent("e_new", "ticket.created", "tkt_i2", "{}"))  # pending, never tried
    run_id = store.record_run("poll", datetime.now(timezone.utc) - timedelta(seconds=2),
                              RunCounts(seen=4, created=3, failed=1, per_connector={"jira": {"created": 3}}),
                              failures=[("tkt_i1", "jira", "jira: 400 priority")])
    return {"run": run_id, "dead": dead.events[0].id}


def test_every_page_and_the_numbers_on_both_databases(store: Store) -> None:
    ids = seed(store)
    depth = views.inbox_depth(store.engine)
    assert depth == {"pending": 1, "retrying": 1, "running": 0, "dead": 1}
    [jira] = views.connector_summaries(store.engine, ["jira"])
    assert (jira.states["synced"], jira.states["creating"], jira.states["failed"]) == (3, 1, 1)
    assert jira.last_error == "jira: 400 priority" and jira.last_error_ticket == "tkt_i1"
    assert sum(views.events_per_minute(store.engine, hours=1)) == 3
    assert [h.ticket_id for h in views.search_tickets(store.engine, "signup FORM")] == ["tkt_i0"]
    assert [h.ticket_id for h in views.search_tickets(store.engine, "GROWTH-2")] == ["tkt_i2"]
    every = {f"tkt_i{i}" for i in range(4)}
    assert {h.ticket_id for h in views.search_tickets(store.engine, "tkt_i")} == every
    assert [e.event_id for e in views.events_page(store.engine, state="dead").rows] == ["e_dead"]
    assert [f["ticket_id"] for f in views.run_failures_page(store.engine, ids["run"]).rows] == ["tkt_i1"]
    assert json.dumps(views.run(store.engine, ids["run"])["per_connector"]) == '{"jira": {"created": 3}}'

    config = config_mod.parse(CONFIG)
    csrf = Csrf()
    client = TestClient(Console(Sources(lambda: store.engine, lambda: config, lambda: None), csrf=csrf).app())
    for path in ("/", "/tickets", "/tickets?q=signup", "/tickets/tkt_i1", "/runs", f"/runs/{ids['run']}",
                 "/events", "/events?state=dead&type=ticket.updated&age=1h", "/events?age=old", "/config"):
        assert client.get(path).status_code == 200, path
    retried = client.post("/events/retry", data={"all_dead": "1", "csrf": csrf.token()},
                          follow_redirects=False)
    assert retried.status_code == 303 and views.inbox_depth(store.engine)["dead"] == 0
