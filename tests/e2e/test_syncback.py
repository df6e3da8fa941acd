"""End to end: progress made in JIRA, Linear and Asana flows back into the Cogny ticket.

The real CLI as a subprocess: `run-once` (the poll path) and `syncd run` (the webhook path,
with the sync-back poll pushed an hour away so only the targets' webhooks can carry changes).
"""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from syncd.cli.sandboxes import KINDS
from syncd.sandbox._common.tickets import generate_tickets
from syncd.sandbox.asana.sandbox import AsanaSandbox
from syncd.sandbox.cogny.sandbox import CognySandbox
from syncd.sandbox.jira.sandbox import JiraSandbox
from syncd.sandbox.linear.sandbox import LinearSandbox
from tests.support.config import ENV, write_config
from tests.support.daemon import ADMIN, ADMIN_TOKEN, Daemon
from tests.support.process import free_port, run_cli, wait_for
from tests.support.records import jira_issues, marker_of

pytestmark = [pytest.mark.e2e]
JIRA_SECRET = "jira-hook-secret-1"
LINEAR_SECRET = "linear-hook-secret-1"


def jira_parent(jira: JiraSandbox, ticket_id: str) -> dict[str, Any]:
    [issue] = [i for i in jira_issues(jira, subtasks=False) if marker_of(i) == ticket_id]
    return issue


def jira_subtasks(jira: JiraSandbox, ticket_id: str) -> dict[str, str]:
    """Sub-task summary -> key for the ticket's issue."""
    parent = jira_parent(jira, ticket_id)["key"]
    return {s["summary"]: s["key"] for s in jira_issues(jira, subtasks=True) if s["parent"] == parent}


def linear_issue(linear: LinearSandbox, ticket_id: str) -> dict[str, Any]:
    with linear.lock:
        issue_id = next(a["issueId"] for a in linear.attachments.values() if a["url"].endswith(ticket_id))
    return linear.issue_by_identifier(issue_id)


def asana_task(asana: AsanaSandbox, ticket_id: str) -> dict[str, Any]:
    found = asana.find_by_external(f"cogny:{ticket_id}")
    assert found is not None
    return found


def item_state(cogny: CognySandbox, ticket_id: str) -> dict[str, bool]:
    return {a["title"]: a["completed"] for a in cogny.ticket(ticket_id)["action_items"]}


def cogny_ticket_writes(cogny: CognySandbox, ticket_id: str) -> int:
    return sum(1 for r in cogny.log.writes() if f"/tickets/{ticket_id}" in r.path)


def run_once(cfg: Path) -> str:
    result = run_cli("run-once", "-c", str(cfg), env=ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


# -- the poll path: run-once -------------------------------------------------------------------

@pytest.fixture
def jira_world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    tickets = generate_tickets(3, seed=8)
    with CognySandbox(tickets) as cogny, JiraSandbox() as jira:
        settings = {**KINDS["jira"].connector(jira), "sync_back": True}
        cfg = write_config(tmp_path / "syncd.yaml", cogny.url, {"jira": settings})
        run_once(cfg)
        yield {"cfg": cfg, "cogny": cogny, "jira": jira, "ticket": tickets[0]["id"]}


@pytest.mark.config_keys("connectors.NAME.sync_back")
def test_closing_jira_subtasks_completes_items_then_the_ticket(jira_world: dict[str, Any]) -> None:
    cogny, jira, tid, cfg = jira_world["cogny"], jira_world["jira"], jira_world["ticket"], jira_world["cfg"]
    subtasks = jira_subtasks(jira, tid)
    first, second = sorted(subtasks)
    cogny.log.clear()

    jira.set_status(subtasks[first], "Done")
    out = run_once(cfg)
    assert "sync-back jira:" in out and "1 ticket(s) updated in Cogny" in out
    assert item_state(cogny, tid) == {first: True, second: False}
    assert cogny.ticket(tid)["status"] == "in_progress"  # some progress on an open ticket
    assert jira.issues[subtasks[first]]["status"] == "Done"  # not echoed back, not reopened

    jira.set_status(subtasks[second], "Done")
    run_once(cfg)
    assert item_state(cogny, tid) == {first: True, second: True}
    assert cogny.ticket(tid)["status"] == "completed"  # every action item completed
    assert jira_parent(jira, tid)["status"] == "Done"  # the forward sync closes the parent issue
    # two carry-backs (one PATCH each) and the notes line written at the first sync only
    assert cogny_ticket_writes(cogny, tid) == 2, [(r.method, r.path) for r in cogny.log.writes()]

    cogny.log.clear()
    jira.log.clear()
    run_once(cfg)
    assert cogny.log.writes() == [] and jira.log.writes() == []  # quiet: no ping-pong
    status = run_cli("status", "-c", str(cfg), env=ENV)
    assert status.returncode == 0 and "sync-back" in status.stdout
    section = status.stdout.split("sync-back", 1)[1]
    assert re.search(r"│ jira\s+│ 3\s+│ 20\d\d-", section), status.stdout  # all 3 linked issues observed


def test_reopening_a_subtask_moves_the_ticket_back_to_in_progress(jira_world: dict[str, Any]) -> None:
    cogny, jira, tid, cfg = jira_world["cogny"], jira_world["jira"], jira_world["ticket"], jira_world["cfg"]
    subtasks = jira_subtasks(jira, tid)
    for key in subtasks.values():
        jira.set_status(key, "Done")
    run_once(cfg)
    assert cogny.ticket(tid)["status"] == "completed"
    reopened = sorted(subtasks)[0]
    jira.set_status(subtasks[reopened], "To Do")
    run_once(cfg)
    assert cogny.ticket(tid)["status"] == "in_progress"
    assert item_state(cogny, tid)[reopened] is False


def test_wont_do_dismisses_and_cogny_dismissal_is_final(jira_world: dict[str, Any]) -> None:
    cogny, jira, tid, cfg = jira_world["cogny"], jira_world["jira"], jira_world["ticket"], jira_world["cfg"]
    jira.set_status(jira_parent(jira, tid)["key"], "Done", resolution="Won't Do")
    run_once(cfg)
    ticket = cogny.ticket(tid)
    assert ticket["status"] == "dismissed" and ticket["dismiss_reason"] == "not_applicable"
    jira.set_status(jira_parent(jira, tid)["key"], "In Progress")
    cogny.log.clear()
    run_once(cfg)
    assert cogny.ticket(tid)["status"] == "dismissed"
    assert [r for r in cogny.log.writes() if f"/tickets/{tid}" in r.path] == []


def test_a_dry_run_reads_nothing_back(jira_world: dict[str, Any]) -> None:
    cogny, jira, tid, cfg = jira_world["cogny"], jira_world["jira"], jira_world["ticket"], jira_world["cfg"]
    jira.set_status(jira_parent(jira, tid)["key"], "Done")
    cogny.log.clear()
    result = run_cli("run-once", "--dry-run", "-c", str(cfg), env=ENV)
    assert result.returncode == 0 and "sync-back: skipped in a dry run" in result.stdout
    assert cogny.log.writes() == [] and cogny.ticket(tid)["status"] == "open"


def test_canceling_a_linear_issue_dismisses_the_ticket(tmp_path: Path) -> None:
    tickets = generate_tickets(2, seed=8)
    with CognySandbox(tickets) as cogny, LinearSandbox() as linear:
        settings = {**KINDS["linear"].connector(linear), "sync_back": True}
        cfg = write_config(tmp_path / "syncd.yaml", cogny.url, {"linear": settings})
        run_once(cfg)
        tid, other = tickets[0]["id"], tickets[1]["id"]
        linear.set_state(linear_issue(linear, tid)["identifier"], "Canceled")
        run_once(cfg)
        ticket = cogny.ticket(tid)
        assert ticket["status"] == "dismissed" and ticket["dismiss_reason"] == "not_applicable"
        assert cogny.ticket(other)["status"] == "open"
        cogny.log.clear()
        linear.log.clear()
        run_once(cfg)
        assert cogny.log.writes() == [] and linear.log.writes() == []


def test_sync_back_on_a_connector_that_cannot_is_a_config_error(tmp_path: Path) -> None:
    with CognySandbox([]) as cogny:
        slack = {"type": "slack", "token": "xoxb-test", "channel": "growth", "sync_back": True}
        cfg = write_config(tmp_path / "syncd.yaml", cogny.url, {"slack": slack})
        result = run_cli("check-config", "-c", str(cfg), env=ENV)
    assert result.returncode == 2
    problem = "connectors.slack.sync_back: slack connectors cannot carry progress back"
    assert problem in result.stdout + result.stderr


# -- the webhook path: syncd run ---------------------------------------------------------------

@pytest.fixture
def live(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A daemon syncing 3 tickets to JIRA, Linear and Asana, each with sync_back and a webhook registered."""
    tickets = generate_tickets(3, seed=8)
    with CognySandbox(tickets) as cogny, JiraSandbox() as jira, LinearSandbox() as linear, \
            AsanaSandbox() as asana:
        port = free_port()
        connectors = {
            "jira": {**KINDS["jira"].connector(jira), "sync_back": True, "webhook_secret": JIRA_SECRET},
            "linear": {**KINDS["linear"].connector(linear), "sync_back": True,
                       "webhook_secret": LINEAR_SECRET},
            "asana": {**KINDS["asana"].connector(asana), "sync_back": True},
        }
        cfg = write_config(tmp_path / "syncd.yaml", cogny.url, connectors, extra={
            "webhook": {"host": "127.0.0.1", "port": port, "secret": "whsec_unused_here",
                        "admin_token": ADMIN_TOKEN},
            "schedule": {"interval_seconds": 3600},
            "sync_back": {"interval_seconds": 3600},  # only webhooks can carry changes in time
            "inbox": {"max_attempts": 3, "backoff_seconds": 0.05, "max_backoff_seconds": 0.1}})
        daemon = Daemon(cfg, port, tmp_path / "daemon.log").start().wait_first_cycle()
        try:
            def synced() -> bool:
                return all("Synced to Asana:" in (t.get("notes") or "") for t in cogny.tickets.values())

            wait_for(synced, what="first sync")
            jira.add_webhook(f"{daemon.url}/webhooks/jira", secret=JIRA_SECRET)
            linear.add_webhook(f"{daemon.url}/webhooks/linear", LINEAR_SECRET)
            # syncd creates the Asana webhook itself: only then does it answer the X-Hook-Secret handshake
            made = httpx.post(f"{daemon.admin_url}/-/webhooks/asana", timeout=10, headers=ADMIN,
                              json={"target": f"{daemon.url}/webhooks/asana"})
            assert made.status_code == 201, made.text
            yield {"daemon": daemon, "cogny": cogny, "jira": jira, "linear": linear, "asana": asana,
                   "tickets": [t["id"] for t in tickets], "log": tmp_path / "daemon.log"}
        finally:
            daemon.stop(signal.SIGTERM)


def settle(w: dict[str, Any], quiet_seconds: float = 1.5, timeout: float = 30.0) -> int:
    """Wait until no sandbox has been written for `quiet_seconds`; returns Cogny's write count then."""
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        for name in ("jira", "linear", "asana"):
            w[name].hooks.flush(5)
        count = sum(len(w[n].log.writes()) for n in ("cogny", "jira", "linear", "asana"))
        if count == last:
            return len(w["cogny"].log.writes())
        last = count
        time.sleep(quiet_seconds)
    raise AssertionError("the sandboxes never went quiet: an update loop?")


def test_webhooks_from_each_target_carry_progress_back_without_a_loop(live: dict[str, Any]) -> None:
    cogny, jira, linear, asana = live["cogny"], live["jira"], live["linear"], live["asana"]
    by_jira, by_linear, by_asana = live["tickets"]
    settle(live)
    for name in ("cogny", "jira", "linear", "asana"):
        live[name].log.clear()

    # JIRA: close one sub-task → that action item completed
    subtasks = jira_subtasks(jira, by_jira)
    first = sorted(subtasks)[0]
    jira.set_status(subtasks[first], "Done")
    wait_for(lambda: item_state(cogny, by_jira)[first], what="JIRA sub-task → action item")
    assert cogny.ticket(by_jira)["status"] == "in_progress"

    # Linear: cancel the issue → ticket dismissed with a reason
    linear.set_state(linear_issue(linear, by_linear)["identifier"], "Canceled")
    wait_for(lambda: cogny.ticket(by_linear)["status"] == "dismissed", what="Linear cancel → dismissed")
    assert cogny.ticket(by_linear)["dismiss_reason"] == "not_applicable"

    # Asana: tick every subtask → items completed, ticket completed
    for sub in asana.subtasks(asana_task(asana, by_asana)["gid"]):
        asana.complete(sub["gid"])
    wait_for(lambda: cogny.ticket(by_asana)["status"] == "completed", what="Asana subtasks → completed")
    assert all(item_state(cogny, by_asana).values())

    # The changes spread to the other targets, whose webhooks echo back: none may write Cogny again.
    writes = settle(live)
    per_ticket = {t: cogny_ticket_writes(cogny, t) for t in live["tickets"]}
    # by_jira: one PATCH (item + in_progress); by_linear: one dismiss; by_asana: at most one PATCH per
    # subtask webhook (Asana delivers each tick separately) — never more than its items + 1.
    assert per_ticket[by_jira] == 1 and per_ticket[by_linear] == 1, per_ticket
    assert 1 <= per_ticket[by_asana] <= len(asana.subtasks(asana_task(asana, by_asana)["gid"])), per_ticket
    time.sleep(2)
    assert settle(live) == writes  # still quiet: no ping-pong
    assert JIRA_SECRET not in live["log"].read_text() and LINEAR_SECRET not in live["log"].read_text()


@pytest.mark.config_keys("connectors.NAME.webhook_secret")
def test_target_webhooks_are_verified(live: dict[str, Any]) -> None:
    url = live["daemon"].url
    body = b'{"webhookEvent": "jira:issue_updated", "issue": {"id": "10001"}}'
    assert httpx.post(f"{url}/webhooks/jira", content=body, timeout=5).status_code == 401
    assert httpx.post(f"{url}/webhooks/jira", content=body, timeout=5,
                      headers={"X-Hub-Signature": "sha256=" + "0" * 64}).status_code == 401
    assert httpx.post(f"{url}/webhooks/linear", content=b"{}", timeout=5,
                      headers={"Linear-Signature": "0" * 64}).status_code == 401
    assert httpx.post(f"{url}/webhooks/nope", content=b"{}", timeout=5).status_code == 404
    # an Asana handshake syncd did not ask for (anyone can send one) is refused, never echoed
    again = httpx.post(f"{url}/webhooks/asana", content=b"", timeout=5,
                       headers={"X-Hook-Secret": "attacker-secret-1"})
    assert again.status_code == 403 and "X-Hook-Secret" not in again.headers
    # creating the webhook again needs room for its secret ...
    create = {"target": f"{url}/webhooks/asana"}
    admin = live["daemon"].admin_url  # the admin endpoint is on the admin listener, never the webhook port
    refused = httpx.post(f"{admin}/-/webhooks/asana", timeout=10, headers=ADMIN, json=create)
    assert refused.status_code == 409 and "forget-hook-secret" in refused.text
    # ... which the operator makes; even then an unsolicited handshake is refused, syncd's own creation is not
    forgot = run_cli("db", "forget-hook-secret", "asana", "-c", str(live["daemon"].cfg), env=ENV)
    assert forgot.returncode == 0 and "secret forgotten" in forgot.stdout
    fresh = httpx.post(f"{url}/webhooks/asana", content=b"", timeout=5,
                       headers={"X-Hook-Secret": "new-hook-secret-2"})
    assert fresh.status_code == 403 and "X-Hook-Secret" not in fresh.headers
    made = httpx.post(f"{admin}/-/webhooks/asana", timeout=10, headers=ADMIN, json=create)
    assert made.status_code == 201 and "secret" not in made.text.lower()
    unknown = run_cli("db", "forget-hook-secret", "nope", "-c", str(live["daemon"].cfg), env=ENV)
    assert unknown.returncode == 2 and "no connector named 'nope'" in unknown.stdout + unknown.stderr


def test_the_daemons_poll_turns_changes_into_inbox_events(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """No webhook registered: the scheduled read of linked records finds the change (called directly here)."""
    from syncd import config as config_mod
    from syncd.daemon.daemon import Daemon as InProcess

    tickets = generate_tickets(2, seed=8)
    with CognySandbox(tickets) as cogny, JiraSandbox() as jira:
        settings = {**KINDS["jira"].connector(jira), "sync_back": True}
        cfg = write_config(tmp_path / "syncd.yaml", cogny.url, {"jira": settings}, extra={
            "webhook": {"host": "127.0.0.1", "port": 0, "secret": "whsec_unused_here"},
            "schedule": {"interval_seconds": 3600}, "sync_back": {"interval_seconds": 3600}})
        run_once(cfg)
        tid = tickets[0]["id"]
        jira.set_status(jira_parent(jira, tid)["key"], "Done")
        for key, value in ENV.items():
            monkeypatch.setenv(key, value)
        daemon = InProcess(config_mod.load(cfg))
        daemon.start()
        try:
            wait_for(lambda: daemon.leadership.is_leader, what="leadership")
            daemon.poll_back()
            wait_for(lambda: cogny.ticket(tid)["status"] == "completed", what="poll → completed")
            events = run_cli("events", "list", "-c", str(cfg), env=ENV).stdout
            assert "jira:poll:" in events and "target.changed" in events
            assert cogny.ticket(tickets[1]["id"])["status"] == "open"
            parent = jira_parent(jira, tid)["key"]  # the completion spread to the sub-tasks
            subtasks = [s for s in jira_issues(jira, subtasks=True) if s["parent"] == parent]
            assert all(s["status"] == "Done" for s in subtasks)
        finally:
            daemon.shutdown()
