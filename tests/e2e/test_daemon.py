"""End to end: `syncd run` as a subprocess — webhooks in, JIRA issues out, signals, crash recovery."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Iterator

import httpx
import pytest
import yaml

from syncd.sandbox._common.tickets import generate_tickets
from syncd.sandbox.cogny.sandbox import CognySandbox
from syncd.sandbox.jira.sandbox import JiraSandbox
from syncd.signatures import sign_headers
from tests.support.config import ENV, jira_settings, write_config
from tests.support.daemon import ADMIN, ADMIN_TOKEN, SECRET, Daemon, all_states, event, inbox_of
from tests.support.process import HANG_GUARD, free_port, run_cli, wait_for
from tests.support.records import jira_issues, parents_by_ticket

pytestmark = pytest.mark.e2e


@pytest.fixture
def cogny() -> Iterator[CognySandbox]:
    with CognySandbox() as sb:
        yield sb


@pytest.fixture
def daemon(tmp_path: Path, cogny: CognySandbox, jira: JiraSandbox) -> Iterator[Daemon]:
    port = free_port()
    cfg = write_config(tmp_path / "syncd.yaml", cogny.url, {"jira": jira_settings(jira.url)}, extra={
        "webhook": {"host": "127.0.0.1", "port": port, "secret": SECRET, "admin_token": ADMIN_TOKEN},
        "schedule": {"interval_seconds": 3600},
        "inbox": {"max_attempts": 2, "backoff_seconds": 0.05, "max_backoff_seconds": 0.1}})
    d = Daemon(cfg, port, tmp_path / "daemon.log").start().wait_first_cycle()
    yield d
    d.stop(signal.SIGKILL)


@pytest.mark.config_keys("webhook.host", "webhook.port", "webhook.secret")
def test_fifty_cogny_webhooks_become_fifty_issues(daemon: Daemon, cogny: CognySandbox,
                                                  jira: JiraSandbox) -> None:
    cogny.subscribe(f"{daemon.url}/webhooks/cogny", SECRET)
    for t in generate_tickets(50, seed=3):
        cogny.add_ticket(t)  # Cogny signs and delivers ticket.created
    wait_for(lambda: len(parents_by_ticket(jira)) == 50, timeout=60)
    assert set(parents_by_ticket(jira).values()) == {1}
    deliveries = cogny.wait_for_deliveries(50, timeout=10)
    assert all(d["status"] == 202 for d in deliveries)
    wait_for(lambda: all("Synced to JIRA:" in (t.get("notes") or "") for t in cogny.tickets.values()),
             timeout=30)


def test_bad_requests_are_refused_and_nothing_is_stored(daemon: Daemon, cogny: CognySandbox,
                                                         jira: JiraSandbox, tmp_path: Path) -> None:
    [ticket] = generate_tickets(1, seed=5)
    cogny.add_ticket(ticket)
    body = json.dumps(event(ticket["id"], 1)).encode()
    bad = httpx.post(f"{daemon.url}/webhooks/cogny", content=body,
                     headers={"X-Cogny-Signature": "0" * 64}, timeout=5)
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "INVALID_SIGNATURE"
    unsigned = httpx.post(f"{daemon.url}/webhooks/cogny", content=body, timeout=5)
    assert unsigned.status_code == 401
    huge = b'{"id": "evt_big", "type": "ticket.updated", "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    too_big = httpx.post(f"{daemon.url}/webhooks/cogny", content=huge, headers=sign_headers(huge, SECRET),
                         timeout=10)
    assert too_big.status_code == 413
    broken = b'{"id": "evt_broken", '
    assert httpx.post(f"{daemon.url}/webhooks/cogny", content=broken, headers=sign_headers(broken, SECRET),
                      timeout=5).status_code == 400
    no_type = json.dumps({"id": "evt_nt"}).encode()
    shape = httpx.post(f"{daemon.url}/webhooks/cogny", content=no_type, headers=sign_headers(no_type, SECRET),
                       timeout=5)
    assert shape.status_code == 400 and shape.json()["success"] is False
    listing = run_cli("events", "list", "-c", str(daemon.cfg), env=ENV)
    assert listing.returncode == 0 and "evt_" not in listing.stdout
    assert jira.issues == {}


def test_repeated_event_is_processed_once(daemon: Daemon, cogny: CognySandbox, jira: JiraSandbox) -> None:
    [ticket] = generate_tickets(1, seed=9)
    cogny.add_ticket(ticket)
    first, second = daemon.send(event(ticket["id"], 1)), daemon.send(event(ticket["id"], 1))
    assert (first.status_code, second.status_code) == (202, 202)
    assert second.json()["data"]["duplicate"] is True
    wait_for(lambda: parents_by_ticket(jira).get(ticket["id"]) == 1)
    # A later event about the same ticket, processed: events of one ticket are served in order, so
    # by then any second processing of the first one would have happened (no sleeping on it).
    assert daemon.send(event(ticket["id"], 2, "ticket.updated")).status_code == 202
    inbox = inbox_of(daemon.cfg.parent / "syncd.db")
    wait_for(lambda: all_states(inbox).get(f"evt_{ticket['id']}_2") == "done", what="the marker event done")
    assert parents_by_ticket(jira) == {ticket["id"]: 1}
    listing = run_cli("events", "list", "-c", str(daemon.cfg), env={**ENV, "COLUMNS": "300"})  # no wrapping
    assert listing.stdout.count(f"evt_{ticket['id']}_1") == 1


def test_sigkill_after_accepting_loses_nothing(daemon: Daemon, cogny: CognySandbox,
                                               jira: JiraSandbox) -> None:
    tickets = generate_tickets(30, seed=11)
    for t in tickets:
        cogny.tickets[t["id"]] = cogny.ticket(cogny.add_ticket(t)["id"])
    accepted = [t["id"] for t in tickets if daemon.send(event(t["id"], 1)).status_code == 202]
    assert len(accepted) == 30
    daemon.stop(signal.SIGKILL)
    daemon.start()
    wait_for(lambda: set(parents_by_ticket(jira)) >= set(accepted), timeout=60)
    assert set(parents_by_ticket(jira).values()) == {1}


def test_sigterm_exits_zero(daemon: Daemon) -> None:
    assert daemon.stop(signal.SIGTERM, timeout=HANG_GUARD) == 0  # the ceiling only stops a hung daemon


def test_sighup_with_broken_config_keeps_serving(daemon: Daemon, cogny: CognySandbox,
                                                 jira: JiraSandbox) -> None:
    good = daemon.cfg.read_text()
    daemon.cfg.write_text("cogny: {api_key: [broken\n")
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "config reload rejected" in daemon.log.read_text(), timeout=10)
    [ticket] = generate_tickets(1, seed=21)
    cogny.add_ticket(ticket)
    assert daemon.send(event(ticket["id"], 1)).status_code == 202
    wait_for(lambda: parents_by_ticket(jira).get(ticket["id"]) == 1)
    daemon.cfg.write_text(good)
    reload = httpx.post(f"{daemon.admin_url}/-/reload", headers=ADMIN, timeout=10)
    assert reload.status_code == 200


@pytest.mark.config_keys("webhook.admin_token", "inbox.max_attempts", "inbox.backoff_seconds",
                         "inbox.max_backoff_seconds")
def test_failing_event_goes_dead_and_retry_brings_it_back(daemon: Daemon, cogny: CognySandbox,
                                                           jira: JiraSandbox) -> None:
    [ticket] = generate_tickets(1, seed=33)
    ticket["priority"] = "low"
    cogny.add_ticket(ticket)
    doc = yaml.safe_load(daemon.cfg.read_text())
    good = dict(doc["connectors"]["jira"])
    doc["connectors"]["jira"]["priority_map"] = {"critical": "Highest", "high": "High", "medium": "Medium",
                                                 "low": "Trivial"}
    daemon.cfg.write_text(yaml.safe_dump(doc))
    assert httpx.post(f"{daemon.admin_url}/-/reload", headers=ADMIN, timeout=10).status_code == 200
    assert daemon.send(event(ticket["id"], 1)).status_code == 202
    def dead() -> str:
        return run_cli("events", "list", "-c", str(daemon.cfg), "--state", "dead", env=ENV).stdout

    wait_for(lambda: ticket["id"] in dead(), timeout=30, interval=0.5, what="the event dead")
    assert jira_issues(jira, subtasks=False) == []
    doc["connectors"]["jira"] = good
    daemon.cfg.write_text(yaml.safe_dump(doc))
    assert httpx.post(f"{daemon.admin_url}/-/reload", headers=ADMIN, timeout=10).status_code == 200
    retried = run_cli("events", "retry", "-c", str(daemon.cfg), "--all-dead", env=ENV)
    assert retried.returncode == 0 and "1 event(s) queued again" in retried.stdout
    wait_for(lambda: parents_by_ticket(jira).get(ticket["id"]) == 1, timeout=30)


def test_health_ready_and_metrics(daemon: Daemon) -> None:
    assert httpx.get(f"{daemon.url}/healthz").status_code == 200
    ready = httpx.get(f"{daemon.url}/readyz").json()
    assert ready["ready"] is True and ready["scheduler"] is True
    text = httpx.get(f"{daemon.admin_url}/metrics").text
    for name in ("syncd_inbox_events", "syncd_webhook_events_rejected_total", "syncd_reconcile_total",
                 "syncd_external_calls_total", "syncd_cycle_duration_seconds"):
        assert name in text
    assert SECRET not in text and "jira-token" not in text


def test_second_daemon_on_same_sqlite_file_refuses(daemon: Daemon) -> None:
    result = run_cli("run", "-c", str(daemon.cfg), env=ENV, timeout=30)
    assert result.returncode == 2 and "already using" in result.stderr
    once = run_cli("run-once", "-c", str(daemon.cfg), env=ENV, timeout=30)
    assert once.returncode == 2 and "already using" in once.stderr
    assert run_cli("run-once", "--dry-run", "-c", str(daemon.cfg), env=ENV, timeout=30).returncode == 0
