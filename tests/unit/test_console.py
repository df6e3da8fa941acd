"""The console (issue 19): what each page shows, who may see it, and the one write it makes.

In-process: the console's Starlette app over an in-memory store, through Starlette's TestClient.
Expected values are written from the rows each test puts in the store.
"""

from __future__ import annotations

import base64
import json
import re
import warnings
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import pytest

from syncd import config as config_mod
from syncd.console import Console, Credentials, Csrf, Sources
from syncd.daemon.webhook import Receiver
from syncd.errors import ConfigError
from syncd.store.database import Link, RunCounts, Store
from syncd.store.inbox import Claim, Inbox, NewEvent
from syncd.store.schema import LINK_STATES

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

API_KEY, HOOK_SECRET = "sk_live_console_api_key_1", "whsec_console_secret_22"
JIRA_TOKEN = "jira-token-console-333"
PASSWORD = "a-console-password-of-length"
CONFIG = f"""
cogny: {{api_key: {API_KEY}}}
webhook: {{secret: {HOOK_SECRET}, port: 8080}}
admin: {{port: 8081}}
connectors:
  jira: {{type: jira, url: "https://jira.example.com", email: bot@example.com, api_token: {JIRA_TOKEN},
          project: GROWTH}}
  slack: {{type: slack, token: xoxb-console-slack-token-4444, channel: C123}}
routes:
  - match: {{priority: [critical, high]}}
    connectors: [jira, slack]
  - connectors: [jira]
"""


def make_config(extra: str = "", env: dict[str, str] | None = None) -> config_mod.Config:
    return config_mod.parse(CONFIG + extra, env=env or {})


@pytest.fixture
def store() -> Iterator[Store]:
    s = Store.open("sqlite://")
    yield s
    s.close()


def client_for(store: Store, config: config_mod.Config, creds: Credentials | None = None,
               csrf: Csrf | None = None, extra: Any = ()) -> TestClient:
    console = Console(Sources(lambda: store.engine, lambda: config, lambda: creds), csrf=csrf)
    return TestClient(console.app(list(extra)), base_url="http://127.0.0.1:8081")


def link(store: Store, ticket: str, connector: str, *, key: str | None = None, title: str = "A title",
         state: str = "synced", error: str | None = None, url: str | None = None) -> Link:
    ln, _ = store.claim_create(ticket, connector)
    ln.state = state  # type: ignore[assignment]
    ln.external_id, ln.external_key, ln.external_url = f"id-{ticket}-{connector}", key, url
    ln.applied = {"record": {"summary" if connector == "jira" else "text": title}, "items": {}}
    ln.last_error = error
    ln.synced_at = datetime.now(timezone.utc) if state == "synced" else None
    ln.notes_line = f"Synced to JIRA: {key}" if key else None
    store.save_link(ln)
    return ln


def dead_event(store: Store, event_id: str, ticket: str = "tkt_dead1") -> int:
    inbox = Inbox(store.engine, max_attempts=1)
    inbox.add(NewEvent(event_id, "ticket.updated", ticket, json.dumps({"id": event_id})))
    claims = inbox.claim("test", limit=100)
    [claim] = [c for c in claims if c.events[0].event_id == event_id]
    inbox.release([i for c in claims if c is not claim for i in c.ids])  # others stay as they were
    assert inbox.fail(claim, "jira: HTTP 500 from the target") == "dead"
    return claim.events[0].id


def text_of(html: str) -> str:
    """The page's visible text, tags dropped (enough to compare numbers in cells)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# -- page data -------------------------------------------------------------------------------
def test_overview_counts_records_by_every_link_state_and_failures(store: Store) -> None:
    link(store, "tkt_a1", "jira", key="GROWTH-1")
    link(store, "tkt_a2", "jira", key="GROWTH-2", error="jira: HTTP 400 summary too long")
    link(store, "tkt_a3", "jira", state="creating")
    link(store, "tkt_a1", "slack")
    inbox = Inbox(store.engine)
    inbox.add(NewEvent("e2", "ticket.updated", "tkt_a2", "{}"))
    [claim] = inbox.claim("w")
    inbox.fail(Claim(claim.ticket_id, claim.events), "boom")  # pending again, after one attempt: retrying
    inbox.add(NewEvent("e1", "ticket.updated", "tkt_a1", "{}"))  # pending, never tried
    dead_event(store, "e3")
    page = client_for(store, make_config()).get("/")
    assert page.status_code == 200
    for state in LINK_STATES:  # every state the store knows is a column, whatever it is
        assert f"<th>{state}</th>" in page.text
    row = text_of(page.text.split('<tbody>', 1)[1].split("</tr>")[0])
    states = [*LINK_STATES]
    expected = {"creating": 1, "synced": 2, "failed": 1}
    cells = row.split()
    assert cells[0] == "jira"
    assert [int(c) for c in cells[1:1 + len(states) + 1]] == [expected.get(s, 0) for s in (*states, "failed")]
    assert 'id="inbox-pending">1<' in page.text and 'id="inbox-retrying">1<' in page.text
    assert 'id="inbox-dead">1<' in page.text
    assert "no daemon is running on this store" in page.text
    assert page.text.count("<svg") == 3


def test_runs_and_a_runs_page_list_its_failures(store: Store) -> None:
    started = datetime.now(timezone.utc) - timedelta(seconds=5)
    run_id = store.record_run("poll", started, RunCounts(seen=3, created=1, failed=1,
                                                         per_connector={"jira": {"created": 1, "failed": 1}}),
                              failures=[("tkt_f1", "jira", "jira: HTTP 400 priority 'Trivial' is not valid")])
    client = client_for(store, make_config())
    runs = client.get("/runs")
    assert f'href="/runs/{run_id}"' in runs.text and "jira: created 1, failed 1" in text_of(runs.text)
    page = client.get(f"/runs/{run_id}")
    assert page.status_code == 200
    assert "priority &#39;Trivial&#39; is not valid" in page.text and 'href="/tickets/tkt_f1"' in page.text
    assert client.get("/runs/999").status_code == 404


def test_search_finds_tickets_by_id_key_and_title_words(store: Store) -> None:
    link(store, "tkt_s1", "jira", key="GROWTH-12", title="Shorten the signup form")
    link(store, "tkt_s2", "jira", key="GROWTH-13", title="Add a referral banner")
    link(store, "tkt_s3", "jira", key="GROWTH-14", title="Shorten the onboarding email")
    client = client_for(store, make_config())
    one = client.get("/tickets", params={"q": "GROWTH-13"}, follow_redirects=False)
    assert one.status_code == 303 and one.headers["location"] == "/tickets/tkt_s2"
    words = client.get("/tickets", params={"q": "shorten form"}, follow_redirects=False)  # every word
    assert words.status_code == 303 and words.headers["location"] == "/tickets/tkt_s1"
    several = client.get("/tickets", params={"q": "shorten"})
    assert several.status_code == 200 and "2 ticket(s) match" in several.text
    assert "tkt_s1" in several.text and "tkt_s3" in several.text and "tkt_s2" not in several.text
    by_id = client.get("/tickets", params={"q": "tkt_s"})
    assert all(t in by_id.text for t in ("tkt_s1", "tkt_s2", "tkt_s3"))
    assert "no ticket found" in client.get("/tickets", params={"q": "100%_"}).text  # LIKE wildcards are text


def test_ticket_page_shows_each_record_its_link_error_notes_and_events(store: Store) -> None:
    link(store, "tkt_p1", "jira", key="GROWTH-7", url="https://jira.example.com/browse/GROWTH-7")
    link(store, "tkt_p1", "slack", url="javascript:alert(1)", error="slack: channel_not_found\nsecond line")
    dead_event(store, "evt_p1", "tkt_p1")
    page = client_for(store, make_config()).get("/tickets/tkt_p1")
    assert page.status_code == 200
    assert '<a class="external" href="https://jira.example.com/browse/GROWTH-7"' in page.text
    assert "javascript:" not in page.text.split('id="record-slack"')[1].split("</h2>")[0]  # no link made
    assert "slack: channel_not_found\nsecond line" in page.text  # the last error in full
    assert "Synced to JIRA: GROWTH-7" in page.text and "evt_p1" not in page.text  # events show ids
    assert "jira: HTTP 500 from the target" in page.text
    assert client_for(store, make_config()).get("/tickets/tkt_unknown").status_code == 404


def test_events_filter_by_state_and_type(store: Store) -> None:
    dead_event(store, "evt_dead")
    Inbox(store.engine).add(NewEvent("evt_new", "ticket.created", "tkt_n1", "{}"))
    client = client_for(store, make_config())
    dead = client.get("/events", params={"state": "dead"}).text
    assert "tkt_dead1" in dead and "tkt_n1" not in dead
    created = client.get("/events", params={"type": "ticket.created"}).text
    assert "tkt_n1" in created and "tkt_dead1" not in created
    assert "tkt_n1" in client.get("/events", params={"state": "no-such-state"}).text  # unknown filter: none


def test_config_page_tests_routes_like_the_cli(store: Store) -> None:
    client = client_for(store, make_config())
    high = client.get("/config", params={"priority": "high"}).text
    assert 'id="route-result">→ <b>jira, slack</b>' in high
    low = client.get("/config", params={"priority": "low"}).text
    assert 'id="route-result">→ <b>jira</b>' in low


# -- what a page may contain -------------------------------------------------------------------
def test_a_ticket_titled_script_is_text(store: Store) -> None:
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    link(store, "tkt_x1", "jira", key="GROWTH-9", title=hostile, error=hostile)
    client = client_for(store, make_config())
    for path in ("/tickets/tkt_x1", "/tickets?q=tkt_x", "/"):
        page = client.get(path, follow_redirects=False).text
        assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in client.get("/tickets/tkt_x1").text


def test_no_secret_on_any_page(store: Store) -> None:
    config = make_config()
    link(store, "tkt_c1", "jira", key="GROWTH-1", error=f"jira: HTTP 401 token {JIRA_TOKEN} refused")
    dead_event(store, "evt_c1", "tkt_c1")
    client = client_for(store, config)
    for path in ("/", "/tickets", "/tickets/tkt_c1", "/runs", "/events", "/events?state=dead", "/config",
                 "/config?priority=high"):
        page = client.get(path).text
        for secret in (API_KEY, HOOK_SECRET, JIRA_TOKEN, "xoxb-console-slack-token-4444"):
            assert secret not in page, (path, secret)
    assert "********" in client.get("/config").text


# -- access ------------------------------------------------------------------------------------
def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_with_auth_set_every_page_and_metrics_answer_401_without_it(store: Store) -> None:
    config = make_config("admin: {port: 8081, auth: {type: basic, username: ops, password_env: PW}}\n",
                         env={"PW": PASSWORD})
    assert config.admin.auth is not None and config.admin.auth.secret is not None
    creds = Credentials("basic", PASSWORD, "ops")
    receiver = Receiver(writer=None, inbox=Inbox(store.engine), secrets=lambda: [])  # type: ignore[arg-type]
    client = client_for(store, config, creds, extra=receiver.admin_routes())
    for path in ("/", "/tickets", "/runs", "/events", "/config", "/metrics", "/static/console.css"):
        answer = client.get(path)
        assert answer.status_code == 401, path
        assert answer.headers["www-authenticate"].startswith("Basic")
        assert client.get(path, headers=basic("ops", "wrong-password-here")).status_code == 401
        assert client.get(path, headers=basic("eve", PASSWORD)).status_code == 401
        assert client.get(path, headers=basic("ops", PASSWORD)).status_code == 200, path


def test_a_bearer_token_also_works_as_a_browsers_basic_password(store: Store) -> None:
    token = "t" * 32
    client = client_for(store, make_config(), Credentials("bearer", token))
    assert client.get("/").status_code == 401
    assert client.get("/", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.get("/", headers=basic("anyone", token)).status_code == 200
    assert client.get("/", headers={"Authorization": f"Bearer {token}x"}).status_code == 401


def test_admin_listener_is_never_the_webhook_port(store: Store) -> None:
    with pytest.raises(ConfigError) as err:
        config_mod.parse(f"cogny: {{api_key: {API_KEY}}}\nwebhook: {{port: 9000}}\nadmin: {{port: 9000}}\n")
    assert err.value.problems[0].startswith("admin.port: 9000 is webhook.port too")
    receiver = Receiver(writer=None, inbox=Inbox(store.engine), secrets=lambda: [HOOK_SECRET])  # type: ignore[arg-type]
    public = TestClient(receiver.app())
    for path in ("/", "/metrics", "/events", "/config", "/tickets"):
        assert public.get(path).status_code == 404, path
    assert public.post("/-/reload").status_code in (404, 405)


def test_admin_auth_secret_comes_from_the_environment_only() -> None:
    with pytest.raises(ConfigError) as err:
        make_config("admin: {auth: {type: bearer, token_env: SYNCD_ADMIN_TOKEN}}\n", env={})
    assert "admin.auth.token_env: environment variable SYNCD_ADMIN_TOKEN is not set" in err.value.problems
    with pytest.raises(ConfigError) as err:
        make_config("admin: {auth: {type: bearer, token: literal-token-in-the-file}}\n")
    assert "admin.auth.token: unknown key" in err.value.problems


# -- the one write -----------------------------------------------------------------------------
def state_of(store: Store, event_id: int) -> str:
    return next(e.state for e in Inbox(store.engine).list(limit=100) if e.id == event_id)


def test_retry_needs_actions_enabled_and_is_hidden_otherwise(store: Store) -> None:
    ident = dead_event(store, "evt_r0")
    client = client_for(store, make_config())  # admin.actions: false, the default
    page = client.get("/events", params={"state": "dead"}).text
    assert "Retry" not in page and 'name="csrf"' not in page
    answer = client.post("/events/retry", data={"id": str(ident), "csrf": Csrf().token()})
    assert answer.status_code == 403 and state_of(store, ident) == "dead"


def test_retry_needs_the_csrf_token_of_this_console(store: Store) -> None:
    ident = dead_event(store, "evt_r1")
    csrf = Csrf()
    client = client_for(store, make_config("admin: {port: 8081, actions: true}\n"), csrf=csrf)
    page = client.get("/events", params={"state": "dead"}).text
    assert f'name="csrf" value="{csrf.token()}"' in page and "Retry all dead (1)" in page
    for form in ({"id": str(ident)}, {"id": str(ident), "csrf": ""},
                 {"id": str(ident), "csrf": Csrf().token()}):  # another daemon's token
        assert client.post("/events/retry", data=form).status_code == 403
    assert state_of(store, ident) == "dead"
    cross = client.post("/events/retry", data={"id": str(ident), "csrf": csrf.token()},
                        headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403 and state_of(store, ident) == "dead"
    done = client.post("/events/retry", data={"id": str(ident), "csrf": csrf.token()},
                       headers={"Origin": "http://127.0.0.1:8081"}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/events?state=dead&retried=1"
    assert state_of(store, ident) == "pending"


def test_retry_all_dead(store: Store) -> None:
    idents = [dead_event(store, f"evt_all{i}", f"tkt_all{i}") for i in range(3)]
    csrf = Csrf()
    client = client_for(store, make_config("admin: {port: 8081, actions: true}\n"), csrf=csrf)
    answer = client.post("/events/retry", data={"all_dead": "1", "csrf": csrf.token()},
                         follow_redirects=False)
    assert answer.headers["location"].endswith("retried=3")
    assert [state_of(store, i) for i in idents] == ["pending"] * 3


def test_pages_forbid_framing_and_inline_script(store: Store) -> None:
    headers = client_for(store, make_config()).get("/").headers
    assert headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
