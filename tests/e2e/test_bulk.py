"""A poll's bulk create (syncd.bulk): a page's new JIRA issues and sub-tasks in `issue/bulk` calls.

What users rely on: the first sync of a big backlog takes a few calls per page instead of two
per ticket, and still never duplicates — a bulk call that fails, is rejected in part, or whose
answer is lost leaves its tickets to the per-ticket path, which finishes them exactly once.
"""

from __future__ import annotations

import math
import re
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from syncd.sandbox._common.tickets import generate_tickets
from syncd.sandbox.cogny.sandbox import CognySandbox
from syncd.sandbox.jira.sandbox import JiraSandbox
from tests.support.config import ENV, jira_settings, write_config
from tests.support.daemon import SECRET, Daemon
from tests.support.process import free_port, run_cli, run_once
from tests.support.records import assert_mirrored_exactly_once, jira_issues, marker_of

pytestmark = pytest.mark.e2e  # `cogny` and `cfg`: tests/conftest.py
PAGE = 100  # the Cogny client's default page size


@pytest.fixture
def tickets() -> list[dict[str, Any]]:
    return generate_tickets(130, seed=11)


def posts(jira: JiraSandbox, suffix: str) -> list[Any]:
    return [r for r in jira.log.all() if r.method == "POST" and r.path.endswith(suffix)]


def test_first_sync_creates_each_pages_issues_and_sub_tasks_in_bulk(
        cfg: Path, cogny: CognySandbox, jira: JiraSandbox, tickets: list[dict[str, Any]]) -> None:
    result = run_once(cfg)
    assert result.returncode == 0, result.stdout + result.stderr
    assert_mirrored_exactly_once(cogny, jira)
    pages = [tickets[i:i + PAGE] for i in range(0, len(tickets), PAGE)]
    expected = sum(math.ceil(len(p) / 50) + math.ceil(sum(len(t["action_items"]) for t in p) / 50)
                   for p in pages)
    bulk = posts(jira, "/issue/bulk")
    assert len(bulk) == expected  # e.g. 2 + 3 for a page of 100 tickets with 150 action items
    assert all(r.status == 201 and len(r.json()["issueUpdates"]) <= 50 for r in bulk)
    assert posts(jira, "/issue") == []  # not one issue created alone
    assert f'"jira_created": {len(tickets)}' in result.stderr  # reported as created, not as unchanged
    status = run_cli("status", "-c", str(cfg), env=ENV)
    assert status.returncode == 0 and "creating" not in status.stdout  # every link finished
    jira.log.clear()
    again = run_once(cfg)
    assert again.returncode == 0 and jira.log.writes() == []


def test_a_bulk_call_whose_answer_is_lost_duplicates_nothing(
        cfg: Path, cogny: CognySandbox, jira: JiraSandbox) -> None:
    # The first issue/bulk is applied by JIRA, then the connection drops: syncd cannot know
    # the 50 issues exist. Their tickets go to the per-ticket path, which finds them by marker.
    jira.faults.set(path_suffix="/issue/bulk", drop_next=1, drop_after_apply=True)
    result = run_once(cfg)
    assert jira.faults.injected["drop"] == 1
    assert result.returncode == 0, result.stdout + result.stderr
    assert_mirrored_exactly_once(cogny, jira)
    searched = [r for r in jira.log.all() if r.path.endswith("/search/jql")]
    assert len(searched) >= 50  # one marker look-up per ticket of the lost call
    assert "bulk create left a ticket to its worker" in result.stderr


def test_failed_bulk_calls_fall_back_to_one_ticket_at_a_time(
        cfg: Path, cogny: CognySandbox, jira: JiraSandbox) -> None:
    jira.faults.set(path_suffix="/issue/bulk", fail_next=2)  # both calls for page 1's 100 issues: 500
    result = run_once(cfg)
    assert jira.faults.injected["fail"] == 2
    assert result.returncode == 0, result.stdout + result.stderr
    assert_mirrored_exactly_once(cogny, jira)
    alone = [r for r in posts(jira, "/issue/bulk") if r.status == 201 and len(r.json()["issueUpdates"]) == 1
             and "parent" not in r.json()["issueUpdates"][0]["fields"]]
    assert len(alone) == PAGE  # page 1 went one ticket at a time; page 2 still in bulk


def test_elements_jira_rejects_fail_their_tickets_alone(
        tmp_path: Path, cogny: CognySandbox, jira: JiraSandbox, tickets: list[dict[str, Any]]) -> None:
    lows = {t["id"] for t in tickets if t["priority"] == "low"}
    trivial = {"critical": "Highest", "high": "High", "medium": "Medium", "low": "Trivial"}
    cfg = write_config(tmp_path / "syncd.yaml", cogny.url,
                       {"jira": jira_settings(jira.url, priority_map=trivial)})
    result = run_once(cfg)
    assert result.returncode == 1
    assert "priority" in result.stdout and sorted(lows)[0] in result.stdout
    assert {marker_of(i) for i in jira_issues(jira, subtasks=False)} == set(cogny.tickets) - lows
    rejected = [r for r in posts(jira,
                                 "/issue/bulk") if r.status == 201 and len(r.json()["issueUpdates"]) > 1]
    assert rejected, "the accepted issues still went in bulk"


def test_a_done_sub_task_whose_transition_failed_is_moved_later_never_created_twice(
        tmp_path: Path, jira: JiraSandbox) -> None:
    [ticket] = generate_tickets(1, seed=5)
    ticket["status"] = "open"
    ticket["action_items"] = [{"title": title, "description": "", "estimated_hours": 2, "completed": done}
                              for title, done in (("Audit the funnel", True), ("Fix the form", False))]
    with CognySandbox([ticket]) as cogny:
        cfg = write_config(tmp_path / "syncd.yaml", cogny.url, {"jira": jira_settings(jira.url)},
                           extra={"sync": {"max_attempts": 2}})

        def subtasks() -> dict[str, str]:
            return {s["summary"]: s["status"] for s in jira_issues(jira, subtasks=True)}

        # the bulk stage creates both sub-tasks, then cannot move the done one (GET transitions: 500 twice);
        # the ticket's worker finishes it: it updates the recorded sub-task instead of creating it again
        jira.faults.set(path_suffix="/transitions", fail_next=2)
        first = run_once(cfg)
        assert first.returncode == 0, first.stdout + first.stderr
        assert jira.faults.injected["fail"] == 2
        titles = [a["title"] for a in ticket["action_items"]]
        assert subtasks() == {titles[0]: "Done", titles[1]: "To Do"}

        # the per-ticket path alike: a new item, already done, whose move fails; the next run moves it
        items = cogny.ticket(ticket["id"])["action_items"] + [
            {"title": "Ship it", "description": "", "estimated_hours": 1, "completed": True}]
        cogny.edit_ticket(ticket["id"], action_items=items)
        jira.faults.set(path_suffix="/transitions", fail_next=2)
        assert run_once(cfg).returncode == 1
        assert subtasks()["Ship it"] == "To Do"
        assert run_once(cfg).returncode == 0
        assert subtasks() == {titles[0]: "Done", titles[1]: "To Do", "Ship it": "Done"}
        assert len(jira_issues(jira, subtasks=True)) == 3  # never a second "Ship it"


def test_dry_run_creates_nothing_in_bulk(cfg: Path, jira: JiraSandbox, tmp_path: Path) -> None:
    result = run_once(cfg, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert jira.issues == {} and posts(jira, "/issue/bulk") == []


def test_the_daemons_poll_creates_in_bulk_and_counts_it_in_metrics(
        tmp_path: Path, cogny: CognySandbox, jira: JiraSandbox, tickets: list[dict[str, Any]]) -> None:
    port = free_port()
    cfg = write_config(tmp_path / "syncd.yaml", cogny.url, {"jira": jira_settings(jira.url)}, extra={
        "webhook": {"host": "127.0.0.1", "port": port, "secret": SECRET},
        "schedule": {"interval_seconds": 3600}})
    daemon = Daemon(cfg, port, tmp_path / "daemon.log").start().wait_first_cycle()
    try:
        text = httpx.get(f"{daemon.admin_url}/metrics", timeout=10).text
    finally:
        daemon.stop(signal.SIGTERM)
    assert_mirrored_exactly_once(cogny, jira)
    assert posts(jira, "/issue") == [] and posts(jira, "/issue/bulk")

    def sample(name: str, outcome: str) -> float:
        found = re.search(rf'^{name}{{connector="jira",outcome="{outcome}"}} ([0-9.e+]+)$', text, re.M)
        return float(found.group(1)) if found else 0.0
    assert sample("syncd_bulk_create_tickets_total", "created") == len(tickets)
    assert sample("syncd_bulk_create_tickets_total", "left") == 0
    assert sample("syncd_reconcile_total", "created") == len(tickets)  # counted once, not again as unchanged
    assert sample("syncd_reconcile_total", "unchanged") == 0
