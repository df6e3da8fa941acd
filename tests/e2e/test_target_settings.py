"""End to end: the per-target settings and the webhook/sync-back keys no other test exercised, through
the real CLI and daemon against the sandboxes. Each expected value is written from the README's
table for the key, not computed by syncd."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from syncd.sandbox._common.tickets import make_ticket
from syncd.signatures import sign_headers
from tests.support.config import ENV
from tests.support.daemon import SECRET, Daemon, all_states, daemon_config, event, inbox_of, standard_headers
from tests.support.process import free_port, run_cli, run_once, wait_for
from tests.support.records import CHANNEL, jira_issues, marker_of
from tests.support.world import world

pytestmark = pytest.mark.e2e


def item(title: str, completed: bool = False) -> dict[str, Any]:
    return {"title": title, "description": "", "estimated_hours": 1, "completed": completed}


def ok(result: Any) -> None:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


# -- JIRA ------------------------------------------------------------------------------------------------

@pytest.mark.config_keys("connectors.jira.labels")
def test_jira_labels_are_added_beside_the_marker_label(tmp_path: Path) -> None:
    with world(tmp_path, [make_ticket(id="tkt_labelled", action_items=[])], ("jira",),
               connector_kw={"jira": {"labels": ["growth", "from-cogny"]}}) as w:
        ok(run_once(w.cfg))
        [issue] = jira_issues(w.jira, subtasks=False)
        assert sorted(issue["labels"]) == ["cogny-tkt_labelled", "from-cogny", "growth"]


@pytest.mark.config_keys("connectors.jira.canceled_resolutions", "sync_back.status_map",
                         "sync_back.dismiss_reason")
def test_jira_resolutions_status_map_and_dismiss_reason_decide_what_flows_back(tmp_path: Path) -> None:
    tickets = [make_ticket(id=f"tkt_back{n}", action_items=[]) for n in range(3)]
    # "Duplicate" is canceled, "Won't Do" is not (so it is done); done maps to in_progress, not completed
    with world(tmp_path, tickets, ("jira",), connector_kw={"jira": {
            "sync_back": True, "canceled_resolutions": ["Duplicate"]}},
            extra={"sync_back": {"status_map": {"done": "in_progress", "canceled": "dismissed"},
                                 "dismiss_reason": "already_implemented"}}) as w:
        ok(run_once(w.cfg))
        keys = {marker_of(i): i["key"] for i in jira_issues(w.jira, subtasks=False)}
        w.jira.set_status(keys["tkt_back0"], "Done", resolution="Duplicate")
        w.jira.set_status(keys["tkt_back1"], "Done", resolution="Won't Do")
        ok(run_once(w.cfg))  # run-once reads the linked records back before its cycle
        assert w.cogny.ticket("tkt_back0")["status"] == "dismissed"
        assert w.cogny.ticket("tkt_back0")["dismiss_reason"] == "already_implemented"
        assert w.cogny.ticket("tkt_back1")["status"] == "in_progress"  # status_map: done -> in_progress
        assert w.cogny.ticket("tkt_back2")["status"] == "open"


@pytest.mark.config_keys("sync_back.interval_seconds")
def test_the_daemon_reads_linked_records_every_interval_without_a_webhook(tmp_path: Path) -> None:
    tickets = [make_ticket(id="tkt_polled", action_items=[item("Only step")])]
    with world(tmp_path, tickets, ("jira",), connector_kw={"jira": {"sync_back": True}}) as w:
        port = free_port()
        cfg = daemon_config(w, port, sync_back={"interval_seconds": 10})  # the least syncd accepts
        d = Daemon(cfg, port, tmp_path / "daemon.log").start().wait_first_cycle()
        try:
            [sub] = jira_issues(w.jira, subtasks=True)
            w.jira.set_status(sub["key"], "Done")  # by a person in JIRA; no webhook is registered
            wait_for(lambda: w.cogny.ticket("tkt_polled")["action_items"][0]["completed"], timeout=120,
                     what="the sync-back read carrying the closed sub-task to Cogny")
        finally:
            d.stop(signal.SIGKILL)


# -- Slack -----------------------------------------------------------------------------------------------

@pytest.mark.config_keys("connectors.slack.mention")
def test_slack_mention_is_prepended_for_critical_tickets_only(tmp_path: Path) -> None:
    tickets = [make_ticket(id="tkt_crit", priority="critical", action_items=[]),
               make_ticket(id="tkt_high", priority="high", action_items=[])]
    mention = {"slack": {"mention": "<!subteam^S0GROWTH>"}}
    with world(tmp_path, tickets, ("slack",), connector_kw=mention) as w:
        ok(run_once(w.cfg))
        texts = {m["metadata"]["event_payload"]["ticket_id"]: m["text"]
                 for m in w.slack.messages(CHANNEL) if m.get("metadata")}
        assert texts["tkt_crit"].startswith("<!subteam^S0GROWTH> ")
        assert "<!subteam" not in texts["tkt_high"]


@pytest.mark.config_keys("connectors.slack.history_limit")
def test_slack_history_limit_bounds_the_marker_search_of_a_lost_store(tmp_path: Path) -> None:
    tickets = [make_ticket(id=f"tkt_hist{n}", action_items=[]) for n in range(3)]
    with world(tmp_path, tickets, ("slack",), connector_kw={"slack": {"history_limit": 1}}) as w:
        ok(run_once(w.cfg))
        assert len(w.slack.messages(CHANNEL)) == 3
        (tmp_path / "syncd.db").unlink()
        ok(run_once(w.cfg))
        # only the newest message was searched: the two older tickets got a message again
        assert len(w.slack.messages(CHANNEL)) == 5


# -- Linear ----------------------------------------------------------------------------------------------

@pytest.mark.config_keys("connectors.linear.team_id", "connectors.linear.priority_map",
                         "connectors.linear.label_ids", "connectors.linear.project_id",
                         "connectors.linear.done_state", "connectors.linear.canceled_state")
def test_linear_team_by_id_priority_labels_project_and_states(tmp_path: Path) -> None:
    tickets = [make_ticket(id="tkt_lin_open", priority="critical", action_items=[]),
               make_ticket(id="tkt_lin_done", priority="low", status="completed", action_items=[]),
               make_ticket(id="tkt_lin_dism", status="dismissed", action_items=[])]
    with world(tmp_path, tickets, ("linear",)) as w:
        label, project = w.linear.add_label("Growth", "GROW"), w.linear.add_project("Growth bets")
        duplicate = next(s["id"] for s in w.linear.states("GROW") if s["name"] == "Duplicate")
        settings = {"team_key": None, "team_id": w.linear.team_id("GROW"), "label_ids": [label],
                    "project_id": project, "priority_map": {"critical": 2, "high": 2, "medium": 3, "low": 0},
                    "done_state": "Done", "canceled_state": duplicate}  # a state by name, one by id
        doc = yaml.safe_load(w.cfg.read_text())
        doc["connectors"]["linear"].update(settings)
        del doc["connectors"]["linear"]["team_key"]
        w.cfg.write_text(yaml.safe_dump(doc))
        ok(run_once(w.cfg))
        with w.linear.lock:
            by_ticket = {a["url"].rsplit("/", 1)[-1]: w.linear.issues[a["issueId"]]
                         for a in w.linear.attachments.values()}
        states = {tid: w.linear.state(issue["stateId"])["name"] for tid, issue in by_ticket.items()}
        assert states == {"tkt_lin_open": "Backlog", "tkt_lin_done": "Done", "tkt_lin_dism": "Duplicate"}
        assert {tid: i["priority"] for tid, i in by_ticket.items()} == \
            {"tkt_lin_open": 2, "tkt_lin_done": 0, "tkt_lin_dism": 2}  # make_ticket's priority is high
        assert all(i["labelIds"] == [label] and i["projectId"] == project for i in by_ticket.values())


# -- Asana -----------------------------------------------------------------------------------------------

@pytest.mark.config_keys("connectors.asana.section_gid", "connectors.asana.priority_field")
def test_asana_section_and_priority_field(tmp_path: Path) -> None:
    tickets = [make_ticket(id="tkt_asana_c", priority="critical", action_items=[]),
               make_ticket(id="tkt_asana_l", priority="low", action_items=[])]
    with world(tmp_path, tickets, ("asana",)) as w:
        sb = w.asana
        field = {"field_gid": sb.priority_field_gid, "options": dict(sb.priority_options)}
        doc = yaml.safe_load(w.cfg.read_text())
        doc["connectors"]["asana"].update({"section_gid": sb.section_gid, "priority_field": field})
        w.cfg.write_text(yaml.safe_dump(doc))
        ok(run_once(w.cfg))
        tasks = {t["external"]["gid"].removeprefix("cogny:"): t for t in sb.top_level()}
        assert {tid: t["memberships"][0]["section"] for tid, t in tasks.items()} == \
            {"tkt_asana_c": sb.section_gid, "tkt_asana_l": sb.section_gid}  # not the first section
        assert tasks["tkt_asana_c"]["custom_fields"][sb.priority_field_gid] == sb.priority_options["critical"]
        assert tasks["tkt_asana_l"]["custom_fields"][sb.priority_field_gid] == sb.priority_options["low"]


# -- the webhook receiver: path and timestamp tolerance ------------------------------------------------------

@pytest.mark.config_keys("webhook.path", "webhook.tolerance_seconds")
def test_webhook_path_and_timestamp_tolerance(tmp_path: Path) -> None:
    std = "whsec_c3RhbmRhcmQtd2ViaG9va3Mta2V5LTAxMjM0NTY3ODk="
    with world(tmp_path, [make_ticket(id="tkt_hooked", action_items=[])], ("jira",)) as w:
        port = free_port()
        cfg = daemon_config(w, port, webhook={"path": "/hooks/cogny-in", "secrets": [std],
                                              "tolerance_seconds": 60})
        d = Daemon(cfg, port, tmp_path / "daemon.log").start().wait_first_cycle()
        try:
            body = json.dumps(event("tkt_hooked", 1)).encode()
            elsewhere = httpx.post(f"{d.url}/webhooks/cogny", content=body, timeout=10,
                                   headers=sign_headers(body, SECRET))
            assert elsewhere.status_code == 404  # the default path is not served any more
            now = int(time.time())
            stale = httpx.post(f"{d.url}/hooks/cogny-in", content=body, timeout=10,
                               headers=standard_headers(body, std, "msg_a", now - 120))
            assert stale.status_code == 401  # two minutes old: outside the 60 s tolerance
            fresh = httpx.post(f"{d.url}/hooks/cogny-in", content=body, timeout=10,
                               headers=standard_headers(body, std, "msg_b", now - 30))
            assert fresh.status_code == 202, fresh.text
            inbox = inbox_of(tmp_path / "syncd.db")
            wait_for(lambda: all_states(inbox).get("evt_tkt_hooked_1") == "done", what="the event done")
        finally:
            d.stop(signal.SIGKILL)
    assert run_cli("events", "list", "-c", str(cfg), env=ENV).returncode == 0
