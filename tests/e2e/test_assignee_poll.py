"""End to end: a poll carries the assignee although Cogny's listing omits it (issue #10).

With an `assignee_map`, `syncd run-once` reads in full (GET) the tickets that are new or changed
since syncd last read them, and renders the assignee from that; the records of a ticket that has
not changed are never "updated" for lack of the field. Cogny's `updated_at` has whole seconds, so
a ticket changed (or written back) in the last minutes is read again by the next poll; once its
last change is older than that, an unchanged ticket costs nothing (see syncd.assignee_note).
"""

from __future__ import annotations

import sqlite3
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest

from syncd.sandbox._common.tickets import generate_tickets
from syncd.sandbox.cogny import state as cogny_module
from syncd.sandbox.cogny.sandbox import CognySandbox
from syncd.sandbox.jira.sandbox import JiraSandbox
from tests.support.config import ENV, jira_settings, write_config
from tests.support.process import run_cli
from tests.support.records import jira_issues, marker_of

pytestmark = pytest.mark.e2e
ASSIGNEES = {"user_1": "acc-0001", "user_2": "acc-0002"}
WHO = ["user_1", "user_2", None, "user_unmapped"]  # ticket i gets WHO[i % 4]


def assigned_tickets() -> list[dict[str, Any]]:
    tickets = generate_tickets(8, seed=23)
    for i, t in enumerate(tickets):
        t["assignee"] = WHO[i % 4]
    return tickets


@pytest.fixture
def cogny() -> Iterator[CognySandbox]:
    with CognySandbox(assigned_tickets()) as sb:
        yield sb


@pytest.fixture
def cogny_an_hour_ago(monkeypatch: pytest.MonkeyPatch) -> Iterator[CognySandbox]:
    """Cogny stamping every change an hour in the past: as if each run came an hour after the last change."""
    real_now = cogny_module._now
    monkeypatch.setattr(cogny_module, "_now", lambda: real_now() - timedelta(hours=1))
    with CognySandbox(assigned_tickets()) as sb:
        yield sb


@pytest.fixture
def cfg(tmp_path: Path, cogny: CognySandbox, jira: JiraSandbox) -> Path:
    return write_config(tmp_path / "syncd.yaml", cogny.url,
                        {"jira": jira_settings(jira.url, assignee_map=ASSIGNEES)})


def run(cfg: Path) -> subprocess.CompletedProcess[str]:
    result = run_cli("run-once", "-c", str(cfg), env=ENV)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result


def last_run(cfg: Path) -> dict[str, Any]:
    with sqlite3.connect(cfg.parent / "syncd.db") as conn:
        conn.row_factory = sqlite3.Row
        return dict(conn.execute("SELECT * FROM runs ORDER BY id DESC LIMIT 1").fetchone())


def assignees(jira: JiraSandbox) -> dict[str, Any]:
    return {marker_of(i): i["assignee"] for i in jira_issues(jira, subtasks=False)}


def expected(cogny: CognySandbox) -> dict[str, Any]:
    out = {}
    for tid, ticket in cogny.tickets.items():
        account = ASSIGNEES.get(ticket["assignee"] or "")
        out[tid] = {"accountId": account} if account else None
    return out


def full_reads(cogny: CognySandbox) -> list[str]:
    return [r.path for r in cogny.log.all() if r.method == "GET" and r.path.startswith("/v1/tickets/")]


def test_poll_sets_the_mapped_assignee_and_an_unchanged_ticket_costs_nothing(
        tmp_path: Path, cogny_an_hour_ago: CognySandbox, jira: JiraSandbox) -> None:
    cogny = cogny_an_hour_ago  # it lists tickets as Cogny documents it: without `assignee`
    cfg = write_config(tmp_path / "syncd.yaml", cogny.url,
                       {"jira": jira_settings(jira.url, assignee_map=ASSIGNEES)})
    run(cfg)
    assert assignees(jira) == expected(cogny)
    assert any(v is not None for v in expected(cogny).values()) and None in expected(cogny).values()

    for _ in range(2):  # the first of these reads again the tickets our write-back changed, no more
        cogny.log.clear()
        jira.log.clear()
        run(cfg)
        assert jira.log.writes() == [] and cogny.log.writes() == []
        counts = last_run(cfg)
        assert (counts["unchanged"], counts["updated"], counts["created"], counts["failed"]) == \
            (len(cogny.tickets), 0, 0, 0)
    assert full_reads(cogny) == []  # nothing changed: no ticket is read in full
    assert assignees(jira) == expected(cogny)


def test_a_reassignment_reaches_the_issue_on_the_next_poll(cfg: Path, cogny: CognySandbox,
                                                           jira: JiraSandbox) -> None:
    run(cfg)
    first = next(tid for tid, t in cogny.tickets.items() if t["assignee"] == "user_1")
    second = next(tid for tid, t in cogny.tickets.items() if t["assignee"] == "user_2")
    cogny.edit_ticket(first, assignee="user_2")
    cogny.edit_ticket(second, assignee=None)
    cogny.log.clear()
    jira.log.clear()
    run(cfg)
    assert assignees(jira) == expected(cogny)
    assert (assignees(jira)[first], assignees(jira)[second]) == ({"accountId": "acc-0002"}, None)
    # writes name an issue by its id, which a move to another project does not change
    edited = {i["id"] for i in jira_issues(jira, subtasks=False) if marker_of(i) in (first, second)}
    assert {r.path.rsplit("/", 1)[-1] for r in jira.log.writes()} == edited
    counts = last_run(cfg)
    assert (counts["updated"], counts["unchanged"]) == (2, len(cogny.tickets) - 2)

    jira.log.clear()
    cogny.log.clear()
    run(cfg)  # changed seconds ago: read again (whole-second timestamps), and nothing to write
    assert jira.log.writes() == [] and cogny.log.writes() == []
    assert last_run(cfg)["unchanged"] == len(cogny.tickets)
