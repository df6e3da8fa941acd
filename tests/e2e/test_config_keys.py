"""End to end: config keys no other test exercised, through the real CLI and daemon.

JIRA's workflow and issue-type settings, the schedule (a repeating interval, a cron), SIGTERM and
SIGINT with work in flight, the store trusted while JQL search lags and the marker found once the
search caught up, `events purge`, and `links list --ticket/--connector`. Every wait is a bounded
poll on a condition (tests.support.process.wait_for); nothing here measures time.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from syncd.sandbox._common.tickets import make_ticket
from syncd.sandbox.cogny.sandbox import CognySandbox
from syncd.sandbox.jira.sandbox import JiraSandbox
from tests.support.config import ENV, jira_settings, write_config
from tests.support.daemon import Daemon, all_states, daemon_config, event, inbox_of
from tests.support.process import free_port, run_cli, run_once, wait_for
from tests.support.records import jira_issues, marker_of, parents_by_ticket
from tests.support.world import world

pytestmark = pytest.mark.e2e


def item(title: str, completed: bool = False) -> dict[str, Any]:
    return {"title": title, "description": "", "estimated_hours": 1, "completed": completed}


@pytest.fixture
def cogny() -> Iterator[CognySandbox]:
    with CognySandbox() as sb:
        yield sb


def issue_of(jira: JiraSandbox, ticket_id: str) -> dict[str, Any]:
    [issue] = [i for i in jira_issues(jira, subtasks=False) if marker_of(i) == ticket_id]
    return issue


# -- JIRA: issue types and transitions by name ------------------------------------------------------------

@pytest.mark.config_keys("connectors.jira.issue_type", "connectors.jira.subtask_type",
                         "connectors.jira.done_transition", "connectors.jira.dismissed_transition",
                         "connectors.jira.reopen_transition")
def test_jira_issue_types_and_transitions_come_from_the_settings(
        tmp_path: Path, cogny: CognySandbox, jira: JiraSandbox) -> None:
    for tid, status in (("tkt_finished", "completed"), ("tkt_dropped", "dismissed"), ("tkt_current", "open")):
        cogny.add_ticket(make_ticket(id=tid, status=status, action_items=[item(f"{tid} step")]))
    # Unusual on purpose: dismissed and reopened go to "In Progress", so each setting shows in the result
    settings = jira_settings(jira.url, issue_type="Story", subtask_type="Sub-task", done_transition="Done",
                             dismissed_transition="In Progress", reopen_transition="In Progress")
    cfg = write_config(tmp_path / "syncd.yaml", cogny.url, {"jira": settings})
    result = run_once(cfg)
    assert result.returncode == 0, result.stdout + result.stderr
    statuses = {tid: issue_of(jira, tid)["status"] for tid in ("tkt_finished", "tkt_dropped", "tkt_current")}
    assert statuses == {"tkt_finished": "Done", "tkt_dropped": "In Progress", "tkt_current": "To Do"}
    assert {i["issuetype"] for i in jira_issues(jira, subtasks=False)} == {"Story"}
    assert {s["issuetype"] for s in jira_issues(jira, subtasks=True)} == {"Sub-task"}

    cogny.edit_ticket("tkt_finished", status="open")  # reopened in Cogny
    assert run_once(cfg).returncode == 0
    assert issue_of(jira, "tkt_finished")["status"] == "In Progress"  # reopen_transition, not "To Do"


@pytest.mark.config_keys("connectors.jira.subtask_type", "connectors.jira.issue_type")
def test_jira_types_that_do_not_fit_fail_the_ticket_naming_them(
        tmp_path: Path, cogny: CognySandbox, jira: JiraSandbox) -> None:
    cogny.add_ticket(make_ticket(id="tkt_with_items", action_items=[item("One")]))
    settings = jira_settings(jira.url, subtask_type="Bug")  # not a sub-task type in this project
    cfg = write_config(tmp_path / "syncd.yaml", cogny.url, {"jira": settings})
    result = run_once(cfg)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "tkt_with_items" in result.stdout and "Traceback" not in result.stderr
    assert jira_issues(jira, subtasks=True) == []


@pytest.mark.config_keys("connectors.jira.done_transition")
def test_a_done_transition_the_workflow_lacks_fails_the_ticket_naming_it(
        tmp_path: Path, cogny: CognySandbox, jira: JiraSandbox) -> None:
    cogny.add_ticket(make_ticket(id="tkt_to_close", status="completed", action_items=[]))
    cfg = write_config(tmp_path / "syncd.yaml", cogny.url,
                       {"jira": jira_settings(jira.url, done_transition="Ship It")})
    result = run_once(cfg)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "no transition 'Ship It'" in result.stdout + result.stderr


# -- the store is trusted while JQL search lags; the marker finds the issue once search caught up --------

@pytest.mark.config_keys("store.url")
def test_store_is_trusted_while_search_lags_and_a_lost_store_finds_issues_once_indexed(
        tmp_path: Path, cogny: CognySandbox, jira: JiraSandbox) -> None:
    jira.search_lag = 3.0  # JQL does not see a new issue for a while, as on JIRA Cloud
    for n in range(4):
        cogny.add_ticket(make_ticket(id=f"tkt_lag{n}", action_items=[item("First"), item("Second")]))
    cfg = write_config(tmp_path / "syncd.yaml", cogny.url, {"jira": jira_settings(jira.url)})
    assert run_once(cfg).returncode == 0
    made = len(jira.issues)

    cogny.edit_ticket("tkt_lag0", title="Retitled while search lags")
    again = run_once(cfg)  # the store knows every issue: no search needed, nothing made twice
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(jira.issues) == made and issue_of(jira, "tkt_lag0")["summary"] == "Retitled while search lags"

    with jira.lock:
        indexed_at = max(i["indexed_at"] for i in jira.issues.values())
    wait_for(lambda: time.monotonic() >= indexed_at, what="JQL search catching up with the new issues")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{tmp_path / 'syncd.db'}{suffix}").unlink(missing_ok=True)
    lost = run_once(cfg)
    assert lost.returncode == 0, lost.stdout + lost.stderr
    assert len(jira.issues) == made and set(parents_by_ticket(jira).values()) == {1}


@pytest.mark.config_keys("connectors.jira.search_lag_seconds")
def test_a_lost_bulk_create_answer_while_search_lags_makes_no_duplicate(
        tmp_path: Path, cogny: CognySandbox, jira: JiraSandbox) -> None:
    """When JIRA made the issues but syncd never learnt their ids (an answer lost, or a crash before
    recording them), the link stays `creating`; while JQL search lags, the marker look-up finds
    nothing, and the ticket waits out `search_lag_seconds` instead of creating the issue again."""
    jira.search_lag = 600.0  # the search index does not catch up during this test
    for n in range(5):
        cogny.add_ticket(make_ticket(id=f"tkt_lost{n}", action_items=[]))
    settings = jira_settings(jira.url, search_lag_seconds=600)
    cfg = write_config(tmp_path / "syncd.yaml", cogny.url, {"jira": settings})
    # the bulk create is applied, then its answer is lost: exactly what a kill at that moment leaves
    jira.faults.set(drop_next=1, drop_after_apply=True, path_suffix="/issue/bulk")
    run_once(cfg)
    jira.faults.clear()
    assert jira.faults.injected["drop"] == 1
    waiting = run_once(cfg)
    assert parents_by_ticket(jira) == {f"tkt_lost{n}": 1 for n in range(5)}
    assert waiting.returncode == 1 and "search_lag_seconds" in waiting.stdout, waiting.stdout[-2000:]

    jira.catch_up_search()  # the index caught up: the next run adopts every issue, makes none
    settled = run_once(cfg)
    assert settled.returncode == 0, settled.stdout + settled.stderr
    assert parents_by_ticket(jira) == {f"tkt_lost{n}": 1 for n in range(5)}


# -- the schedule -------------------------------------------------------------------------------------------

def cycles(d: Daemon) -> int:
    """How many polls the daemon has finished, from its log (one `cycle finished` line each)."""
    return sum(1 for line in d.log.read_text().splitlines()
               if '"cycle finished"' in line and '"kind": "poll"' in line)


@pytest.fixture
def scheduled(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Daemon, Any]]:
    """A daemon whose only schedule is `request.param` (no webhook ever arrives)."""
    with world(tmp_path, [make_ticket(id="tkt_before", action_items=[])], ("jira",)) as w:
        port = free_port()
        cfg = daemon_config(w, port)
        text = cfg.read_text().replace("interval_seconds: 3600", request.param)
        cfg.write_text(text)
        d = Daemon(cfg, port, tmp_path / "daemon.log").start().wait_first_cycle()
        try:
            yield d, w
        finally:
            d.stop(signal.SIGKILL)


@pytest.mark.config_keys("schedule.interval_seconds")
@pytest.mark.parametrize("scheduled", ["interval_seconds: 1"], indirect=True)
def test_an_interval_schedule_polls_again_and_again(scheduled: tuple[Daemon, Any]) -> None:
    d, w = scheduled
    first = cycles(d)
    w.cogny.add_ticket(make_ticket(id="tkt_later", action_items=[]))  # no webhook: only a poll finds it
    wait_for(lambda: parents_by_ticket(w.jira).get("tkt_later") == 1, what="a later poll syncing it")
    wait_for(lambda: cycles(d) >= first + 3, what="three more polls")
    assert set(parents_by_ticket(w.jira)) == {"tkt_before", "tkt_later"}


@pytest.mark.config_keys("schedule.cron")
@pytest.mark.parametrize("scheduled", ["cron: '* * * * *'"], indirect=True)
def test_a_cron_schedule_polls_at_its_next_minute(scheduled: tuple[Daemon, Any]) -> None:
    d, w = scheduled
    assert '"schedule": "cron * * * * *"' in d.log.read_text()  # the start-up line says which trigger
    first = cycles(d)
    w.cogny.add_ticket(make_ticket(id="tkt_by_cron", action_items=[]))
    # the next minute starts within 60 s; the ceiling only stops a hung test
    wait_for(lambda: parents_by_ticket(w.jira).get("tkt_by_cron") == 1, timeout=180,
             what="the cron poll syncing the new ticket")
    assert cycles(d) >= first + 1


# -- SIGTERM / SIGINT with work in flight --------------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_with_work_in_flight_exits_zero_and_loses_nothing(tmp_path: Path, sig: int) -> None:
    with world(tmp_path, [], ("jira",)) as w:
        port = free_port()
        cfg = daemon_config(w, port)
        d = Daemon(cfg, port, tmp_path / "daemon.log").start().wait_first_cycle()
        try:
            w.cogny.add_ticket(make_ticket(id="tkt_inflight", action_items=[item("A"), item("B")]))
            w.jira.faults.set(slow_rate=1.0, slow_seconds=2.0)  # every JIRA answer takes a while
            assert d.send(event("tkt_inflight", 1)).status_code == 202
            inbox = inbox_of(tmp_path / "syncd.db")
            wait_for(lambda: len(w.jira.log) > 0 or w.jira.faults.injected["slow"] > 0,
                     what="the worker reaching JIRA")
            assert all_states(inbox)["evt_tkt_inflight_1"] not in ("done", "ignored", "dead")  # in flight
            assert d.stop(sig) == 0, d.log.read_text()[-3000:]
        finally:
            d.stop(signal.SIGKILL)
        # finished or released, never left claimed by a process that is gone
        assert all_states(inbox)["evt_tkt_inflight_1"] in ("done", "pending"), all_states(inbox)
        w.jira.faults.clear()
        again = Daemon(cfg, port, tmp_path / "daemon2.log").start()
        try:
            wait_for(lambda: all_states(inbox)["evt_tkt_inflight_1"] == "done", what="the event done")
        finally:
            again.stop(signal.SIGKILL)
        assert parents_by_ticket(w.jira) == {"tkt_inflight": 1}
        assert len(jira_issues(w.jira, subtasks=True)) == 2


# -- events purge and links list filters ---------------------------------------------------------------

def test_events_purge_deletes_finished_events_older_than_the_age_only(tmp_path: Path, cogny: CognySandbox,
                                                                       jira: JiraSandbox) -> None:
    cfg = write_config(tmp_path / "syncd.yaml", cogny.url, {"jira": jira_settings(jira.url)})
    assert run_cli("db", "upgrade", "-c", str(cfg), env=ENV).returncode == 0
    from syncd.store.inbox import NewEvent

    inbox = inbox_of(tmp_path / "syncd.db")
    ages = {"old_done": ("done", 40), "old_ignored": ("ignored", 40), "old_dead": ("dead", 40),
            "old_pending": ("pending", 40), "new_done": ("done", 1), "edge_done": ("done", 29)}
    for name in ages:
        inbox.add(NewEvent(event_id=f"evt_{name}", type="ticket.updated", ticket_id="tkt_x", payload="{}"))
    with sqlite3.connect(tmp_path / "syncd.db") as db:
        for name, (state, days) in ages.items():
            db.execute("UPDATE events SET state = ?, updated_at = datetime('now', ?) WHERE event_id = ?",
                       (state, f"-{days} days", f"evt_{name}"))
    purged = run_cli("events", "purge", "-c", str(cfg), "--older-than", "30d", env=ENV)
    assert purged.returncode == 0, purged.stdout + purged.stderr
    assert "3 event(s) purged" in purged.stdout
    assert sorted(all_states(inbox)) == ["evt_edge_done", "evt_new_done", "evt_old_pending"]
    assert run_cli("events", "purge", "-c", str(cfg), "--older-than", "2d", env=ENV).stdout.strip() == \
        "1 event(s) purged"  # evt_edge_done
    bad = run_cli("events", "purge", "-c", str(cfg), "--older-than", "2 weeks", env=ENV)
    assert bad.returncode == 2 and "--older-than" in bad.stderr


def test_links_list_filters_by_ticket_and_by_connector(tmp_path: Path) -> None:
    tickets = [make_ticket(id=f"tkt_links{n}", action_items=[]) for n in range(3)]
    with world(tmp_path, tickets, ("jira", "linear")) as w:
        result = run_once(w.cfg)
        assert result.returncode == 0, result.stdout + result.stderr

        def links(*args: str) -> list[tuple[str, str]]:
            shown = run_cli("links", "list", "-c", str(w.cfg), "--output", "json", *args, env=ENV)
            assert shown.returncode == 0, shown.stdout + shown.stderr
            return sorted((ln["ticket_id"], ln["connector"]) for ln in json.loads(shown.stdout)["links"])

        assert links() == sorted((t["id"], c) for t in tickets for c in ("jira", "linear"))
        assert links("--ticket", "tkt_links1") == [("tkt_links1", "jira"), ("tkt_links1", "linear")]
        assert links("--connector", "linear") == [(t["id"], "linear") for t in tickets]
        assert links("--ticket", "tkt_links2", "--connector", "jira") == [("tkt_links2", "jira")]
        assert links("--ticket", "tkt_nosuch") == []
