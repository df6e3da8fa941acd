"""End to end with every target: routes send critical and high tickets to JIRA and Slack, every ticket
to Linear and Asana."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

import pytest

from syncd.sandbox._common.tickets import generate_tickets
from tests.support.process import run_once
from tests.support.records import CHANNEL, assert_notes, expected, jira_issues, marker_of, records
from tests.support.world import world

pytestmark = [pytest.mark.e2e]
HIGH = ("critical", "high")
ROUTES = [{"match": {"priority": list(HIGH)}, "connectors": ["jira", "slack"]},
          {"connectors": ["linear", "asana"]}]
SERVICES = ("cogny", "jira", "slack", "linear", "asana")


def routed(t: dict[str, Any]) -> list[str]:
    """Where ROUTES send a ticket."""
    return ["linear", "asana"] + (["jira", "slack"] if t["priority"] in HIGH else [])


@pytest.fixture
def w(tmp_path: Path) -> Iterator[SimpleNamespace]:
    tickets = generate_tickets(16, seed=4)
    tickets[0].update(priority="critical", title="<!channel> & <script>alert(1)</script> *now*")
    with world(tmp_path, tickets, ("jira", "slack", "linear", "asana"), routes=ROUTES) as made:
        yield made


def writes(w: SimpleNamespace) -> list[tuple[str, str, str, str]]:
    return [(n, r.method, r.path, r.body[:300]) for n in SERVICES for r in getattr(w, n).log.writes()]


@pytest.mark.config_keys("connectors.slack.token", "connectors.slack.channel", "connectors.slack.base_url",
                         "connectors.linear.api_key", "connectors.linear.team_key",
                         "connectors.linear.api_url", "connectors.asana.token",
                         "connectors.asana.workspace_gid", "connectors.asana.project_gid",
                         "connectors.asana.base_url")
def test_every_target_mirrors_exactly_once_and_rerun_writes_nothing(w: SimpleNamespace) -> None:
    first = run_once(w.cfg)
    assert first.returncode == 0, first.stdout + first.stderr
    assert records(w) == expected(w.cogny, routed)
    assert_notes(w.cogny, routed)

    for name in SERVICES:
        getattr(w, name).log.clear()
    second = run_once(w.cfg)
    assert second.returncode == 0, second.stderr
    assert writes(w) == []


def test_updates_land_on_the_same_records(w: SimpleNamespace) -> None:
    assert run_once(w.cfg).returncode == 0
    tid = next(t for t, v in w.cogny.tickets.items() if v["priority"] in HIGH and v["action_items"])
    items = [dict(a, completed=True) for a in w.cogny.ticket(tid)["action_items"]]
    w.cogny.edit_ticket(tid, title="Renamed everywhere", action_items=items)
    before = {n: len(v) for n, v in records(w).items()}
    result = run_once(w.cfg)
    assert result.returncode == 0, result.stderr
    assert {n: len(v) for n, v in records(w).items()} == before
    [issue] = [i for i in jira_issues(w.jira, subtasks=False) if marker_of(i) == tid]
    assert issue["summary"] == "Renamed everywhere"
    [msg] = [m for m in w.slack.messages(CHANNEL) if m["metadata"]["event_payload"]["ticket_id"] == tid]
    assert "Renamed everywhere" in msg["text"]
    [task] = [t for t in w.asana.top_level() if (t.get("external") or {}).get("gid") == f"cogny:{tid}"]
    assert task["name"] == "Renamed everywhere"
    assert all(s["completed"] for s in w.asana.subtasks(task["gid"]))


def test_slack_receives_user_text_escaped(w: SimpleNamespace) -> None:
    assert run_once(w.cfg).returncode == 0
    tid = next(t for t, v in w.cogny.tickets.items() if v["title"].startswith("<!channel>"))
    [msg] = [m for m in w.slack.messages(CHANNEL) if m["metadata"]["event_payload"]["ticket_id"] == tid]
    everything = repr(msg["text"]) + repr(msg.get("blocks"))
    assert "<!channel>" not in everything and "<script>" not in everything
    assert "&lt;!channel&gt; &amp; &lt;script&gt;" in msg["text"]
