"""`syncd render` shows each target's create requests as they would be sent — the target's own field
ids, the channel, the GraphQL documents — and sends nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from syncd.sandbox._common.tickets import generate_tickets
from tests.support.config import ENV
from tests.support.process import run_cli
from tests.support.world import world

pytestmark = [pytest.mark.e2e]
ALL = ("jira", "slack", "linear", "asana")


def test_render_prints_each_targets_requests_with_ids_resolved_and_writes_nothing(tmp_path: Path) -> None:
    ticket = generate_tickets(1, seed=30)[0]
    ticket.update(effort="large", title="Cut <the> *signup* form")
    with world(
        tmp_path,
        [ticket],
        ALL,
        routes=[{"connectors": list(ALL)}],
        connector_kw={
            "jira": {
                "fields": {"Story Points": "{{ ticket.effort | map_value(effort_map) }}"},
                "effort_map": {"small": 1, "medium": 3, "large": 8},
            }
        },
    ) as w:
        shown = run_cli("render", ticket["id"], "-c", str(w.cfg), env=ENV)
        assert shown.returncode == 0, shown.stdout + shown.stderr
        for name in ALL:
            assert w.targets[name].log.writes() == [], name
        doc = json.loads(shown.stdout)["connectors"]

    jira = doc["jira"]["requests"]
    assert [(r["method"], r["path"]) for r in jira] == [("POST", "/rest/api/2/issue/bulk")] * 2
    fields = jira[0]["body"]["issueUpdates"][0]["fields"]
    assert fields["customfield_10016"] == 8 and "Story Points" not in fields  # the display name resolved
    assert fields["project"] == {"key": "GROWTH"} and fields["summary"] == "Cut <the> *signup* form"
    subtasks = jira[1]["body"]["issueUpdates"]
    assert sorted(s["fields"]["summary"] for s in subtasks) == sorted(
        a["title"] for a in ticket["action_items"]
    )

    (slack,) = doc["slack"]["requests"]
    assert (slack["method"], slack["path"]) == ("POST", "/api/chat.postMessage")
    assert slack["body"]["channel"] == "C0GROWTH"
    assert slack["body"]["metadata"]["event_payload"]["ticket_id"] == ticket["id"]

    linear = doc["linear"]["requests"]
    assert [r["body"]["query"].strip().split("(")[0] for r in linear] == [
        "mutation IssueCreate", "mutation IssueBatchCreate", "mutation AttachmentCreate"]
    created = linear[0]["body"]["variables"]["input"]
    assert created["title"] == "Cut <the> *signup* form" and created["teamId"] and created["id"]
    assert linear[2]["body"]["variables"]["input"]["url"].endswith(f"/tickets/{ticket['id']}")

    asana = doc["asana"]["requests"]
    assert (
        asana[0]["path"] == "/api/1.0/tasks" and asana[0]["body"]["data"]["name"] == "Cut <the> *signup* form"
    )
    assert len(asana) == 1 + len(ticket["action_items"])
