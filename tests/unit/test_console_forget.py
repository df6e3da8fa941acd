"""The console's one write beside retries: a record a person deleted (state gone) shows when and how,
and "Forget it" (admin.actions, CSRF) asks for a fresh look next run, like `syncd links forget`."""

from __future__ import annotations

import warnings
from datetime import datetime, timezone
from typing import Iterator

import pytest

from syncd import config as config_mod
from syncd.console.access import Csrf
from syncd.console.app import Console, Sources
from syncd.store.database import Store

with warnings.catch_warnings():  # starlette's notice about its own httpx use, not ours
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

CONFIG = """
cogny: {api_key: sk_test_console}
connectors:
  jira: {type: jira, url: "https://acme.atlassian.net", email: bot@example.com, api_token: t0k3n,
         project: GROWTH}
"""


@pytest.fixture
def store() -> Iterator[Store]:
    s = Store.open("sqlite://")
    yield s
    s.close()


def _client(store: Store, actions: bool, csrf: Csrf) -> TestClient:
    config = config_mod.parse(CONFIG + f"admin: {{port: 8081, actions: {str(actions).lower()}}}\n", env={})
    console = Console(Sources(lambda: store.engine, lambda: config, lambda: None), csrf=csrf)
    return TestClient(console.app([]), base_url="http://127.0.0.1:8081")


def _gone_link(store: Store) -> None:
    link, _ = store.claim_create("tkt_gone1", "jira")
    link.state, link.external_id, link.external_key = "gone", "10001", "GROWTH-1"
    link.gone_at, link.gone_how = datetime(2026, 12, 5, 9, 0, tzinfo=timezone.utc), "deleted in JIRA"
    link.notes_line = "JIRA: GROWTH-1 deleted in JIRA on 2026-12-05"
    store.save_link(link)


def test_a_gone_record_shows_how_and_can_be_forgotten_with_the_csrf_token(store: Store) -> None:
    _gone_link(store)
    csrf = Csrf()
    client = _client(store, True, csrf)
    page = client.get("/tickets/tkt_gone1").text
    assert "deleted in JIRA" in page and "2026-12-05" in page and "Forget it" in page

    refused = client.post("/tickets/tkt_gone1/forget", data={"connector": "jira", "csrf": Csrf().token()})
    assert refused.status_code == 403
    link = store.get_link("tkt_gone1", "jira")
    assert link is not None and link.state == "gone"

    done = client.post("/tickets/tkt_gone1/forget", data={"connector": "jira", "csrf": csrf.token()},
                       follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/tickets/tkt_gone1?forgot=1"
    link = store.get_link("tkt_gone1", "jira")
    assert link is not None and link.state == "creating" and link.external_id is None
    assert (
        link.notes_line == "JIRA: GROWTH-1 deleted in JIRA on 2026-12-05"
    )  # the next write-back replaces it


def test_forget_is_hidden_and_refused_without_actions(store: Store) -> None:
    _gone_link(store)
    csrf = Csrf()
    client = _client(store, False, csrf)
    assert "Forget it" not in client.get("/tickets/tkt_gone1").text
    answer = client.post("/tickets/tkt_gone1/forget", data={"connector": "jira", "csrf": csrf.token()})
    assert answer.status_code == 403
    link = store.get_link("tkt_gone1", "jira")
    assert link is not None and link.state == "gone"
