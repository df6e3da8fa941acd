"""Markers are built from the ticket id alone, and a record is adopted only if its marker names exactly
this ticket (finding 3 for Linear; the same rule checked for Asana and Slack).

Each test drives the real connector against its sandbox over HTTP. A ticket carrying another
ticket's url is a valid ticket (its url is a plain link), so those go through `Ticket.parse`;
hostile ids can no longer parse, so they are put on a ticket with `model_copy`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from connectors.asana import AsanaConnector, AsanaSettings
from connectors.asana.render import marker
from connectors.linear import LinearConnector, LinearSettings
from connectors.linear.connector import issue_id, marker_url
from connectors.slack import SlackConnector, SlackSettings
from syncd.engine.reconcile import Reconciler
from syncd.errors import TicketDataError
from syncd.http import RetryPolicy
from syncd.models import Ticket
from syncd.sandbox._common.tickets import make_ticket
from syncd.sandbox.asana.sandbox import AsanaSandbox
from syncd.sandbox.linear.sandbox import LinearSandbox
from syncd.sandbox.slack.sandbox import SlackSandbox
from tests.support.engine import engine, reconcile

FAST = RetryPolicy(max_attempts=3, backoff=0.01, max_backoff=0.05, timeout=5)
HOSTILE_IDS = ["tkt_a\ncogny:tkt_victim", "tkt_victim/../tkt_a", "tkt_victim?x=1", "tkt_victim#x", "",
               'x"OR"labels"="cogny-tkt_victim', "TKT_victim", "tkt_victim "]


def sync(rec: Reconciler, t: Ticket, target: str) -> Any:
    (outcome,) = reconcile(rec, t, [target]).outcomes
    assert outcome.action in ("created", "updated", "unchanged"), outcome.error
    return outcome


def ticket(**overrides: Any) -> Ticket:
    return Ticket.parse(make_ticket(**overrides))


def hostile(ticket_id: str) -> Ticket:
    """A ticket carrying `ticket_id` unchecked: what a connector sees if validation is ever bypassed."""
    return ticket(title="Attacker").model_copy(update={"id": ticket_id})


# -- Linear: the marker attachment ------------------------------------------------------------------

@pytest.fixture
def linear() -> Iterator[LinearSandbox]:
    with LinearSandbox(teams={"GROW": "Growth"}) as sb:
        yield sb
    bad = [d for d in sb.documents if not d["valid"]]
    assert not bad, f"documents that do not validate against Linear's schema: {bad}"


def linear_conn(sb: LinearSandbox) -> LinearConnector:
    settings = LinearSettings(api_key="lin_api_sandbox", team_key="GROW", api_url=f"{sb.url}/graphql")
    return LinearConnector("linear", settings, policy=FAST)


def issue_of(sb: LinearSandbox, ref: Any) -> dict[str, Any]:
    return sb.issue_by_identifier(ref.key)


def person_issue(sb: LinearSandbox, title: str, url: str,
                 metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """An issue a person made, with an attachment they pasted (or another ticket's marker)."""
    with sb.lock:
        issue = sb.insert_issue({"teamId": sb.team_id("GROW"), "title": title})
        sb.upsert_attachment({"issueId": issue["id"], "url": url, "title": "Cogny",
                              "metadata": metadata or {}})
    return issue


def test_linear_marker_is_cognys_ticket_url_built_from_the_id() -> None:
    assert marker_url("tkt_abc-1_2") == "https://app.cogny.com/tickets/tkt_abc-1_2"
    assert marker_url("tkt_a1") == ticket(id="tkt_a1").url  # markers stamped before keep working
    for bad in HOSTILE_IDS:
        with pytest.raises(TicketDataError, match="not a Cogny ticket id"):
            marker_url(bad)


def test_a_ticket_without_a_url_still_gets_a_marker(linear: LinearSandbox, tmp_path: Path) -> None:
    t = ticket(url="")
    ref = sync(engine(tmp_path, linear_conn(linear), "a.db"), t, "linear").ref
    (attachment,) = linear.attachments.values()
    assert attachment["url"] == f"https://app.cogny.com/tickets/{t.id}" and attachment["issueId"] == ref.id
    assert attachment["metadata"] == {"ticketId": t.id}
    assert "Source:" not in issue_of(linear, ref)["description"]  # no url: no link
    assert linear_conn(linear).find(t) == ref


def test_a_ticket_carrying_another_tickets_url_gets_its_own_issue(
        linear: LinearSandbox, tmp_path: Path) -> None:
    victim = ticket(title="Victim")
    made = sync(engine(tmp_path, linear_conn(linear), "victim.db"), victim, "linear").ref
    attacker = ticket(title="Attacker", url=victim.url)
    outcome = sync(engine(tmp_path, linear_conn(linear), "attacker.db"), attacker, "linear")
    assert outcome.action == "created" and outcome.ref.id != made.id
    assert issue_of(linear, made)["title"] == "Victim"
    assert {a["url"] for a in linear.attachments.values()} == {victim.url, marker_url(attacker.id)}
    assert linear_conn(linear).find(victim) == made and linear_conn(linear).find(attacker) == outcome.ref


def test_two_tickets_sharing_a_url_do_not_collide(linear: LinearSandbox, tmp_path: Path) -> None:
    shared = "https://app.cogny.com/tickets/shared"
    a, b = ticket(title="First", url=shared), ticket(title="Second", url=shared)
    ref_a = sync(engine(tmp_path, linear_conn(linear), "a.db"), a, "linear").ref
    ref_b = sync(engine(tmp_path, linear_conn(linear), "b.db"), b, "linear").ref
    assert ref_a.id != ref_b.id
    assert (issue_of(linear, ref_a)["title"], issue_of(linear, ref_b)["title"]) == ("First", "Second")
    assert f"]({shared})" in issue_of(linear, ref_b)["description"]  # Source: still the ticket's url


@pytest.mark.parametrize("metadata", [None, {"ticketId": "tkt_other"}, {"ticketId": None},
                                      {"note": "pasted"}])
def test_an_attachment_that_does_not_name_this_ticket_is_not_adopted(
        linear: LinearSandbox, tmp_path: Path, metadata: dict[str, Any] | None) -> None:
    t = ticket(title="Mine")
    theirs = person_issue(linear, "Someone's issue linking the ticket", marker_url(t.id), metadata)
    conn = linear_conn(linear)
    assert conn.find(t) is None
    outcome = sync(engine(tmp_path, conn, "a.db"), t, "linear")
    assert outcome.action == "created" and outcome.ref.id != theirs["id"]
    assert linear.issues[theirs["id"]]["title"] == "Someone's issue linking the ticket"


def test_syncds_own_marker_is_adopted_after_the_store_is_lost(linear: LinearSandbox, tmp_path: Path) -> None:
    t = ticket()
    made = sync(engine(tmp_path, linear_conn(linear), "lost.db"), t, "linear").ref
    outcome = sync(engine(tmp_path, linear_conn(linear), "fresh.db"), t, "linear")
    assert outcome.action == "updated" and outcome.ref == made
    # a marker without syncd's metadata counts on the issue syncd made for this ticket (derived id)
    (attachment,) = linear.attachments.values()
    attachment["metadata"] = {}
    assert made.id == issue_id(linear.team_id("GROW"), t.id) and linear_conn(linear).find(t) == made


@pytest.mark.parametrize("bad", HOSTILE_IDS)
def test_linear_refuses_a_hostile_id_before_any_request(linear: LinearSandbox, bad: str) -> None:
    conn = linear_conn(linear)
    with pytest.raises(TicketDataError, match="not a Cogny ticket id"):
        conn.render(hostile(bad))
    with pytest.raises(TicketDataError, match="not a Cogny ticket id"):
        conn.find(hostile(bad))
    assert not linear.issues and not linear.attachments


# -- Asana: external gid and the notes' last line -----------------------------------------------------

def asana_conn(sb: AsanaSandbox) -> AsanaConnector:
    settings = AsanaSettings(token="asana-sandbox", workspace_gid=sb.workspace_gid,
                             project_gid=sb.project_gid, base_url=f"{sb.url}/api/1.0")
    return AsanaConnector("asana", settings, policy=FAST)


@pytest.mark.parametrize("bad", HOSTILE_IDS)
def test_asana_marker_refuses_a_hostile_id(bad: str) -> None:
    with pytest.raises(TicketDataError, match="not a Cogny ticket id"):
        marker(bad)
    with AsanaSandbox() as sb:
        with pytest.raises(TicketDataError, match="not a Cogny ticket id"):
            asana_conn(sb).render(hostile(bad))


def test_a_forged_notes_marker_line_cannot_be_written(tmp_path: Path) -> None:
    """An id with a newline would end the attacker's notes with the victim's marker line."""
    with AsanaSandbox(external_allowed=False) as sb:
        with pytest.raises(TicketDataError, match="not a Cogny ticket id"):
            asana_conn(sb).render(hostile("tkt_a\ncogny:tkt_victim"))
        assert sb.top_level() == []
        victim = ticket(id="tkt_victim", title="Victim")
        assert asana_conn(sb).find(victim) is None
        made = sync(engine(tmp_path, asana_conn(sb), "v.db"), victim, "asana").ref
        assert asana_conn(sb).find(victim) == made
        assert asana_conn(sb).find(ticket(id="tkt_VICTIM")) is None  # the last line must be exactly ours


def test_an_external_lookup_answered_with_another_tickets_task_is_not_adopted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with AsanaSandbox() as sb:
        other = ticket(title="Other")
        theirs = sync(engine(tmp_path, asana_conn(sb), "o.db"), other, "asana").ref
        # a confused server: every external look-up answers with the other ticket's task
        monkeypatch.setattr(sb, "by_external", lambda gid: sb.tasks[theirs.id])
        t = ticket(title="Mine")
        conn = asana_conn(sb)
        assert conn.find(t) is None
        monkeypatch.undo()
        assert sb.tasks[theirs.id]["name"] == "Other"


# -- Slack: message metadata --------------------------------------------------------------------------------

def slack_conn(sb: SlackSandbox) -> SlackConnector:
    settings = SlackSettings(token="xoxb-sandbox", channel="C0GROWTH", base_url=f"{sb.url}/api/")
    return SlackConnector("slack", settings, policy=FAST, sleep=lambda s: None)


@pytest.mark.parametrize("bad", HOSTILE_IDS)
def test_slack_refuses_a_hostile_id(bad: str) -> None:
    with SlackSandbox() as sb:
        conn = slack_conn(sb)
        with pytest.raises(TicketDataError, match="not a Cogny ticket id"):
            conn.render(hostile(bad))
        with pytest.raises(TicketDataError, match="not a Cogny ticket id"):
            conn.find(hostile(bad))
        assert sb.log.all() == []


def test_slack_adopts_only_a_message_naming_exactly_this_ticket(tmp_path: Path) -> None:
    with SlackSandbox() as sb:
        for other in ("tkt_CASE", "tkt_case ", "tkt_cas"):
            sb.add_message("C0GROWTH", "look-alike", user="U0BOT",
                           metadata={"event_type": "cogny_ticket", "event_payload": {"ticket_id": other}})
        t = ticket(id="tkt_case")
        conn = slack_conn(sb)
        assert conn.find(t) is None
        made = sync(engine(tmp_path, conn, "s.db"), t, "slack").ref
        assert conn.render(t).record["metadata"]["event_payload"] == {"ticket_id": "tkt_case"}
        assert slack_conn(sb).find(t) == made
