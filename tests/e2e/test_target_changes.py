"""People change the targets too: a record deleted or moved by a person is respected, never retried.

Each case: a first sync, then the person's change in the target and a change to the ticket, then
one `run-once` that handles it (exit 0, the notes tell the truth), then a run with nothing changed
that makes zero calls to that target. The sandboxes delete and move records as their apps do, and
the real `jira` and `slack-sdk` clients talk to them.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

import pytest

from syncd.sandbox._common.tickets import generate_tickets
from tests.support.config import ENV
from tests.support.process import run_cli, run_once
from tests.support.records import CHANNEL, jira_issues, marker_of
from tests.support.world import world

pytestmark = [pytest.mark.e2e]


def _ticket() -> dict[str, Any]:
    ticket = generate_tickets(1, seed=18)[0]
    ticket.update(priority="high", title="Shorten the signup form")
    return ticket


@pytest.fixture
def one(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[SimpleNamespace]:
    target, extra = request.param if isinstance(request.param, tuple) else (request.param, {})
    with world(tmp_path, [_ticket()], (target,), connector_kw={target: extra},
               sandbox_kw={"jira": {"projects": ("GROWTH", "OTHER")}} if target == "jira" else None) as w:
        w.tid = next(iter(w.cogny.tickets))
        w.sb = w.targets[target]
        first = run_once(w.cfg)
        assert first.returncode == 0, first.stdout + first.stderr
        yield w


def _days() -> set[str]:
    """Today (UTC), and tomorrow in case a run crosses midnight."""
    now = datetime.now(timezone.utc)
    return {now.date().isoformat(), now.replace(hour=23, minute=59).date().isoformat()}


def _notes(w: SimpleNamespace) -> str:
    return str(w.cogny.ticket(w.tid).get("notes") or "")


def _retitle_and_run(w: SimpleNamespace, title: str = "Shorten the signup form to three fields") -> Any:
    w.cogny.edit_ticket(w.tid, title=title)
    w.sb.log.clear()
    result = run_once(w.cfg)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def _assert_no_calls_next_time(w: SimpleNamespace, *, changed: bool) -> None:
    """A run with nothing changed, and (`changed`) one after another edit, reach the target zero times."""
    for edit in ([None, "Shorten the signup form, again"] if changed else [None]):
        if edit:
            w.cogny.edit_ticket(w.tid, title=edit)
        w.sb.log.clear()
        result = run_once(w.cfg)
        assert result.returncode == 0, result.stdout + result.stderr
        assert [(r.method, r.path) for r in w.sb.log.all()] == []


def _gone_line(notes: str, line_start: str) -> str:
    lines = [ln for ln in notes.splitlines() if ln.startswith(line_start)]
    assert len(lines) == 1, notes
    return lines[0]


@pytest.mark.parametrize("one", ["jira"], indirect=True)
def test_a_deleted_jira_issue_is_gone_and_costs_nothing_after(one: SimpleNamespace) -> None:
    (issue,) = jira_issues(one.jira, subtasks=False)
    one.jira.delete_issue(issue["key"])
    _retitle_and_run(one)

    line = _gone_line(_notes(one), f"JIRA: {issue['key']} deleted in JIRA on ")
    assert line.rsplit(" ", 1)[-1] in _days()
    assert "Synced to JIRA" not in _notes(one)
    assert jira_issues(one.jira, subtasks=False) == []  # nothing made again: keep_gone is the default
    _assert_no_calls_next_time(one, changed=True)

    listed = run_cli("links", "list", "-c", str(one.cfg), "--state", "gone", env=ENV)
    assert listed.returncode == 0, listed.stderr
    assert one.tid in listed.stdout and issue["key"] in listed.stdout
    status = run_cli("status", "-c", str(one.cfg), env=ENV)
    assert "1 record(s) deleted in the targets" in status.stdout, status.stdout


@pytest.mark.parametrize("one", ["slack"], indirect=True)
def test_a_deleted_slack_message_is_gone_and_costs_nothing_after(one: SimpleNamespace) -> None:
    (msg,) = one.slack.messages(CHANNEL)
    one.slack.delete_message(CHANNEL, msg["ts"])
    _retitle_and_run(one)

    line = _gone_line(_notes(one), f"Slack: {msg['ts']} message deleted in Slack on ")
    assert line.rsplit(" ", 1)[-1] in _days()
    assert "Synced to Slack" not in _notes(one)
    assert one.slack.messages(CHANNEL) == []
    _assert_no_calls_next_time(one, changed=True)


@pytest.mark.parametrize("one", ["linear"], indirect=True)
def test_a_linear_issue_in_the_trash_is_gone_and_costs_nothing_after(one: SimpleNamespace) -> None:
    with one.linear.lock:
        (identifier,) = [i["identifier"] for i in one.linear.issues.values() if i["parentId"] is None]
    one.linear.remove_issue(identifier)
    _retitle_and_run(one)

    _gone_line(_notes(one), f"Linear: {identifier} deleted in Linear on ")
    assert "Synced to Linear" not in _notes(one)
    _assert_no_calls_next_time(one, changed=True)


@pytest.mark.parametrize("one", ["asana"], indirect=True)
def test_a_deleted_asana_task_is_gone_and_costs_nothing_after(one: SimpleNamespace) -> None:
    (task,) = one.asana.top_level()
    one.asana.delete(task["gid"])
    _retitle_and_run(one)

    _gone_line(_notes(one), f"Asana: {task['gid']} deleted in Asana on ")
    assert "Synced to Asana" not in _notes(one)
    assert one.asana.top_level() == []
    _assert_no_calls_next_time(one, changed=True)


@pytest.mark.parametrize("one", ["jira"], indirect=True)
def test_a_moved_jira_issue_is_followed_by_id(one: SimpleNamespace) -> None:
    (issue,) = jira_issues(one.jira, subtasks=False)
    new_key = one.jira.move_issue(issue["key"], "OTHER")
    assert new_key.startswith("OTHER-")
    _retitle_and_run(one)

    moved = one.jira.issue(new_key)
    assert moved["summary"] == "Shorten the signup form to three fields"
    notes = _notes(one)
    assert f"Synced to JIRA: {new_key} {one.jira.url}/browse/{new_key}" in notes.splitlines()
    assert issue["key"] not in notes
    listed = run_cli("links", "list", "-c", str(one.cfg), "--ticket", one.tid, env=ENV)
    assert new_key in listed.stdout and issue["key"] not in listed.stdout
    _assert_no_calls_next_time(one, changed=False)


@pytest.mark.parametrize("one", ["jira"], indirect=True)
def test_a_moved_issue_is_found_by_its_marker_after_a_lost_store(one: SimpleNamespace) -> None:
    (issue,) = jira_issues(one.jira, subtasks=False)
    new_key = one.jira.move_issue(issue["key"], "OTHER")
    (one.tmp / "syncd.db").unlink()
    for leftover in one.tmp.glob("syncd.db-*"):
        leftover.unlink()
    _retitle_and_run(one)

    (only,) = jira_issues(one.jira, subtasks=False)  # adopted where it is now, not made again
    assert only["key"] == new_key and marker_of(only) == one.tid
    assert only["summary"] == "Shorten the signup form to three fields"
    assert f"Synced to JIRA: {new_key} " in _notes(one)


@pytest.mark.config_keys("connectors.NAME.on_deleted")
@pytest.mark.parametrize("one", [("jira", {"on_deleted": "recreate"})], indirect=True)
def test_recreate_makes_exactly_one_new_jira_issue_on_the_next_run(one: SimpleNamespace) -> None:
    (issue,) = jira_issues(one.jira, subtasks=False)
    one.jira.delete_issue(issue["key"])
    _retitle_and_run(one)
    assert jira_issues(one.jira, subtasks=False) == []  # this run saw it gone ...

    again = run_once(one.cfg)  # ... and the next one makes it again, once
    assert again.returncode == 0, again.stdout + again.stderr
    (fresh,) = jira_issues(one.jira, subtasks=False)
    assert fresh["key"] != issue["key"] and marker_of(fresh) == one.tid
    assert fresh["summary"] == "Shorten the signup form to three fields"
    items = sorted(a["title"] for a in one.cogny.ticket(one.tid)["action_items"])
    assert sorted(s["summary"] for s in jira_issues(one.jira, subtasks=True)) == items
    notes = _notes(one)
    assert f"Synced to JIRA: {fresh['key']} " in notes and "deleted in JIRA" not in notes
    _assert_no_calls_next_time(one, changed=False)


@pytest.mark.parametrize("one", [("linear", {"on_deleted": "recreate"})], indirect=True)
def test_recreate_makes_one_new_linear_issue_beside_the_one_in_the_trash(one: SimpleNamespace) -> None:
    with one.linear.lock:
        (old,) = [dict(i) for i in one.linear.issues.values() if i["parentId"] is None]
    one.linear.remove_issue(old["identifier"])
    _retitle_and_run(one)
    again = run_once(one.cfg)
    assert again.returncode == 0, again.stdout + again.stderr

    with one.linear.lock:
        live = [dict(i) for i in one.linear.issues.values() if i["parentId"] is None and not i["trashed"]]
    (fresh,) = live
    assert fresh["id"] != old["id"] and fresh["title"] == "Shorten the signup form to three fields"
    assert f"Synced to Linear: {fresh['identifier']} " in _notes(one)
    _assert_no_calls_next_time(one, changed=False)


@pytest.mark.parametrize("one", ["jira"], indirect=True)
def test_links_forget_asks_for_a_fresh_record_for_one_ticket(one: SimpleNamespace) -> None:
    (issue,) = jira_issues(one.jira, subtasks=False)
    one.jira.delete_issue(issue["key"])
    _retitle_and_run(one)

    forgot = run_cli("links", "forget", one.tid, "--connector", "jira", "-c", str(one.cfg), env=ENV)
    assert forgot.returncode == 0, forgot.stderr
    assert one.tid in forgot.stdout and issue["key"] in forgot.stdout
    assert jira_issues(one.jira, subtasks=False) == []  # forgetting sends nothing

    again = run_once(one.cfg)
    assert again.returncode == 0, again.stdout + again.stderr
    (fresh,) = jira_issues(one.jira, subtasks=False)
    assert marker_of(fresh) == one.tid and fresh["key"] != issue["key"]
    assert "deleted in JIRA" not in _notes(one)

    unknown = run_cli("links", "forget", one.tid, "--connector", "jra", "-c", str(one.cfg), env=ENV)
    assert unknown.returncode == 2 and "no connector 'jra'" in unknown.stderr
