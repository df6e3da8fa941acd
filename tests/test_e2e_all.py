"""End to end with every target: routes send critical/high tickets to JIRA and Slack, all to Linear and Asana."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Iterator

import pytest

from syncd.sandbox.asana.sandbox import AsanaSandbox
from syncd.sandbox.cogny.sandbox import CognySandbox
from syncd.sandbox.jira.sandbox import JiraSandbox
from syncd.sandbox.linear.sandbox import LinearSandbox
from syncd.sandbox.slack.sandbox import SlackSandbox
from syncd.sandbox._common.tickets import generate_tickets
from syncd.cli.sandboxes import KINDS
from tests.conftest import run_cli
from tests.helpers import ENV, jira_issues, marker_of, write_config

pytestmark = [pytest.mark.e2e]
HIGH = ("critical", "high")
ROUTES = [{"match": {"priority": list(HIGH)}, "connectors": ["jira", "slack"]},
          {"connectors": ["linear", "asana"]}]
LABELS = {"jira": "JIRA", "slack": "Slack", "linear": "Linear", "asana": "Asana"}
CHANNEL = "C0GROWTH"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    tickets = generate_tickets(16, seed=4)
    tickets[0].update(priority="critical", title="<!channel> & <script>alert(1)</script> *now*")
    with CognySandbox(tickets) as cogny, JiraSandbox() as jira, SlackSandbox() as slack, \
            LinearSandbox() as linear, AsanaSandbox() as asana:
        targets = {"jira": jira, "slack": slack, "linear": linear, "asana": asana}
        connectors = {name: KINDS[name].connector(sb) for name, sb in targets.items()}
        cfg = write_config(tmp_path / "syncd.yaml", cogny.url, connectors, routes=ROUTES)
        yield {"cfg": cfg, "cogny": cogny, **targets}


def records(w: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    """target -> ticket id -> child titles, one entry per parent record found (duplicates show as repeats)."""
    out: dict[str, dict[str, list[str]]] = defaultdict(dict)
    parents = Counter()
    subs = jira_issues(w["jira"], subtasks=True)
    for issue in jira_issues(w["jira"], subtasks=False):
        tid = marker_of(issue)
        parents[("jira", tid)] += 1
        out["jira"][tid] = sorted(s["summary"] for s in subs if s["parent"] == issue["key"])
    for msg in w["slack"].messages(CHANNEL):
        tid = msg["metadata"]["event_payload"]["ticket_id"]
        parents[("slack", tid)] += 1
        out["slack"][tid] = []
    linear = w["linear"]
    with linear.lock:
        by_issue = {a["issueId"]: a["url"].rsplit("/", 1)[-1] for a in linear.attachments.values()}
        tops = [i for i in linear.issues.values() if i["parentId"] is None]
    for issue in tops:
        tid = by_issue.get(issue["id"])
        parents[("linear", tid)] += 1
        out["linear"][tid] = sorted(c["title"] for c in linear.children(issue["id"]))
    for task in w["asana"].top_level():
        tid = (task.get("external") or {}).get("gid", "").removeprefix("cogny:") or \
            task["notes"].rstrip().rsplit("cogny:", 1)[-1]
        parents[("asana", tid)] += 1
        out["asana"][tid] = sorted(s["name"] for s in w["asana"].subtasks(task["gid"]))
    dupes = {k: n for k, n in parents.items() if n > 1}
    assert not dupes, f"duplicate records: {dupes}"
    return out


def expected(cogny: CognySandbox) -> dict[str, dict[str, list[str]]]:
    out: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for tid, t in cogny.tickets.items():
        items = sorted(a["title"] for a in t["action_items"])
        for target in ("linear", "asana") + (("jira", "slack") if t["priority"] in HIGH else ()):
            out[target][tid] = [] if target == "slack" else items
    return out


def writes(w: dict[str, Any]) -> int:
    return sum(len(w[n].log.writes()) for n in ("cogny", "jira", "slack", "linear", "asana"))


def test_every_target_mirrors_exactly_once_and_rerun_writes_nothing(world: dict[str, Any]) -> None:
    first = run_cli("run-once", "-c", str(world["cfg"]), env=ENV)
    assert first.returncode == 0, first.stdout + first.stderr
    assert records(world) == expected(world["cogny"])
    for tid, t in world["cogny"].tickets.items():
        lines = [ln for ln in t["notes"].splitlines() if ln.startswith("Synced to ")]
        targets = ["linear", "asana"] + (["jira", "slack"] if t["priority"] in HIGH else [])
        assert sorted(ln.split(":")[0] for ln in lines) == sorted(f"Synced to {LABELS[n]}" for n in targets)

    for name in ("cogny", "jira", "slack", "linear", "asana"):
        world[name].log.clear()
    second = run_cli("run-once", "-c", str(world["cfg"]), env=ENV)
    assert second.returncode == 0, second.stderr
    assert writes(world) == 0, [(r.method, r.path, r.body[:300]) for n in ("cogny", "jira", "slack", "linear", "asana") for r in world[n].log.writes()]


def test_updates_land_on_the_same_records(world: dict[str, Any]) -> None:
    assert run_cli("run-once", "-c", str(world["cfg"]), env=ENV).returncode == 0
    cogny = world["cogny"]
    tid = next(t for t, v in cogny.tickets.items() if v["priority"] in HIGH and v["action_items"])
    items = [dict(a, completed=True) for a in cogny.ticket(tid)["action_items"]]
    cogny.edit_ticket(tid, title="Renamed everywhere", action_items=items)
    before = {n: len(v) for n, v in records(world).items()}
    result = run_cli("run-once", "-c", str(world["cfg"]), env=ENV)
    assert result.returncode == 0, result.stderr
    after = records(world)
    assert {n: len(v) for n, v in after.items()} == before
    [issue] = [i for i in jira_issues(world["jira"], subtasks=False) if marker_of(i) == tid]
    assert issue["summary"] == "Renamed everywhere"
    [msg] = [m for m in world["slack"].messages(CHANNEL) if m["metadata"]["event_payload"]["ticket_id"] == tid]
    assert "Renamed everywhere" in msg["text"]
    [task] = [t for t in world["asana"].top_level() if (t.get("external") or {}).get("gid") == f"cogny:{tid}"]
    assert task["name"] == "Renamed everywhere"
    assert all(s["completed"] for s in world["asana"].subtasks(task["gid"]))


def test_slack_receives_user_text_escaped(world: dict[str, Any]) -> None:
    assert run_cli("run-once", "-c", str(world["cfg"]), env=ENV).returncode == 0
    tid = next(t for t, v in world["cogny"].tickets.items() if v["title"].startswith("<!channel>"))
    [msg] = [m for m in world["slack"].messages(CHANNEL) if m["metadata"]["event_payload"]["ticket_id"] == tid]
    everything = repr(msg["text"]) + repr(msg.get("blocks"))
    assert "<!channel>" not in everything and "<script>" not in everything
    assert "&lt;!channel&gt; &amp; &lt;script&gt;" in msg["text"]
