"""A ticket id is data, never JQL (finding 1): no marker search reaches another ticket's JIRA issue.

Parsed tickets can no longer carry a hostile id (`syncd.models`), so the connector-level defences
are driven with tickets built around that validation (`model_copy`); the end-to-end test runs the
real CLI with a hostile listing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.jira import JiraConnector, JiraSettings
from connectors.jira.jql import jql_string, labels_query
from syncd.errors import TicketDataError
from syncd.models import Ticket
from syncd.sandbox._common.tickets import make_ticket
from syncd.sandbox.cogny.sandbox import CognySandbox
from syncd.sandbox.jira import jql
from syncd.sandbox.jira.sandbox import JiraSandbox
from syncd.store.database import Store
from tests.support.config import ENV, JIRA_TOKEN, JIRA_USER, jira_settings, write_config
from tests.support.process import run_cli
from tests.support.records import jira_issues

INJECTION = 'x"OR"labels"="cogny-tkt_victim'
SYNTAX = list('"\'\\()[]{}|,=!~<> \t\r\n\x00\x07\x1b\x7f\x85\u2028\ufffe\ud800é€😀') + [
    " OR ", " AND ", "ORDER BY", "labels", "cogny-tkt_victim", "EMPTY", "\\u0022", "\\\""]
hostile_text = st.one_of(
    st.lists(st.sampled_from(SYNTAX + list("tkt_abcXYZ019-")), max_size=16).map("".join),
    st.text(max_size=24),
)


def ticket(ticket_id: str, **overrides: Any) -> Ticket:
    return Ticket.parse(make_ticket(id=ticket_id, **overrides))


def hostile(ticket_id: str) -> Ticket:
    """A ticket carrying `ticket_id` unchecked: what the connector sees if validation is ever bypassed."""
    return ticket("tkt_attacker", title="Attacker").model_copy(update={"id": ticket_id})


@pytest.fixture(params=["Cloud", "Server"])
def jira(request: pytest.FixtureRequest) -> Iterator[JiraSandbox]:
    with JiraSandbox(deployment=request.param) as sb:
        yield sb


def connector(sb: JiraSandbox) -> JiraConnector:
    settings = JiraSettings(url=sb.url, email=JIRA_USER, api_token=JIRA_TOKEN, project="GROWTH")
    return JiraConnector("jira", settings)


def victim_issue(conn: JiraConnector, ticket_id: str = "tkt_victim") -> Any:
    t = ticket(ticket_id, title="Victim")
    return conn.create(t, conn.render(t))


# -- the one escaping function -------------------------------------------------------------------------

@pytest.mark.parametrize("value, literal", [
    ("cogny-tkt_a1", '"cogny-tkt_a1"'),
    (INJECTION, r'"x\"OR\"labels\"=\"cogny-tkt_victim"'),
    ("a\\", r'"a\\"'),
    ('\\"', r'"\\\""'),
    ("a\tb\nc\rd", r'"a\tb\nc\rd"'),
    ("\x00\x1b\x7f\x9f\ufffe", r'"\u0000\u001b\u007f\u009f\ufffe"'),
    ("é€😀", '"é€😀"'),
])
def test_jql_string_is_a_quoted_literal_with_jiras_escapes(value: str, literal: str) -> None:
    assert jql_string(value) == literal
    (token, end) = jql.tokenize(f"labels = {literal}")[2:]
    assert (token.kind, token.text, end.kind) == ("str", value, "end")


def test_the_sandbox_decodes_and_refuses_escapes_as_jira_does() -> None:
    assert jql.parse(r'labels = "a\u0041\ \'b\'"').where == jql.Clause("labels", "=", ("aA 'b'",))
    with pytest.raises(jql.JqlError, match=r"'\\q' is an illegal JQL escape sequence"):
        jql.parse(r'labels = "a\q"')
    with pytest.raises(jql.JqlError, match="illegal character"):
        jql.parse('labels = "a\x07b"')


def test_the_project_key_goes_through_the_same_function() -> None:
    assert labels_query('GROWTH" OR project = "OTHER', ["cogny-tkt_a"]) == (
        r'project = "GROWTH\" OR project = \"OTHER" AND labels = "cogny-tkt_a" ORDER BY created ASC')


@settings(max_examples=100)
@given(label=hostile_text, other=hostile_text)
def test_a_marker_query_parses_and_matches_only_its_own_labels(label: str, other: str) -> None:
    labels = [label, other] if other else [label]
    query = jql.parse(labels_query("GROWTH", labels))
    project, clause = query.where.parts  # type: ignore[union-attr]
    assert project == jql.Clause("project", "=", ("GROWTH",))
    assert clause.field == "labels" and clause.values == tuple(labels)  # each value exactly, nothing more
    assert query.order == (("created", False),)
    wanted = {v.lower() for v in labels}  # JQL compares labels ignoring case; the connector then exactly
    for theirs in ("cogny-tkt_victim", INJECTION, label + "x", "x" + label, label.upper(), label):
        record = {"project": ["GROWTH"], "labels": [theirs]}
        assert jql.matches(query.where, record) == (theirs.lower() in wanted)
    assert not jql.matches(query.where, {"project": ["OTHER"], "labels": [label]})


# -- the connector: refuses hostile ids, adopts only an exact marker ----------------------------------------

def test_a_hostile_id_finds_nothing_and_sends_no_search(jira: JiraSandbox) -> None:
    conn = connector(jira)
    victim = victim_issue(conn)
    jira.log.clear()
    widen = 'tkt_victim" OR labels is not EMPTY OR labels = "x'
    for bad in (INJECTION, widen, "tkt_victim\n", "TKT_victim"):
        with pytest.raises(TicketDataError, match="not a Cogny ticket id"):
            conn.find(hostile(bad))
        with pytest.raises(TicketDataError, match="not a Cogny ticket id"):
            conn.render(hostile(bad))
        assert conn.find_many([hostile(bad)]) == {}  # left out: `find` then fails it alone
    assert [r for r in jira.log.all() if "/search" in r.path] == []
    assert connector(jira).find(ticket("tkt_victim")) == victim


def test_an_escaped_injection_matches_no_issue_in_jira(jira: JiraSandbox) -> None:
    conn = connector(jira)
    victim_issue(conn)
    query = labels_query("GROWTH", [f"cogny-{INJECTION}"])
    assert conn._call("search", lambda j: j.search_issues(query, maxResults=False, fields="labels")) == []
    raw = f'project = "GROWTH" AND labels = "cogny-{INJECTION}" ORDER BY created ASC'  # the old JQL
    hits = conn._call("search", lambda j: j.search_issues(raw, fields="labels"))
    assert [i.key for i in hits] == ["GROWTH-1"]  # unescaped, the same id reached the victim


def test_labels_compare_exactly_in_find_and_find_many(jira: JiraSandbox) -> None:
    conn = connector(jira)
    victim = victim_issue(conn, "tkt_case")
    upper = ticket("tkt_CASE", title="Another ticket")
    assert conn.find(upper) is None  # JQL finds tkt_case's issue; its label is not this marker
    assert conn.find_many([upper]) == {"tkt_CASE": None}
    assert conn.find_many([upper, ticket("tkt_case")]) == {"tkt_CASE": None, "tkt_case": victim}
    mine = conn.create(upper, conn.render(upper))
    assert conn.find(upper) == mine and conn.find(ticket("tkt_case")) == victim
    assert conn.find_many([ticket("tkt_case"), upper]) == {"tkt_case": victim, "tkt_CASE": mine}


# -- end to end: a hostile listing leaves the victim's issue untouched --------------------------------------

def test_run_once_with_hostile_tickets_leaves_the_victims_issue_alone(tmp_path: Path) -> None:
    victim = make_ticket(id="tkt_victim", title="Victim's ticket")
    with CognySandbox([victim]) as cogny, JiraSandbox() as jira:
        cfg = write_config(tmp_path / "syncd.yaml", cogny.url, {"jira": jira_settings(jira.url)})
        first = run_cli("run-once", "-c", str(cfg), env=ENV)
        assert first.returncode == 0, first.stdout + first.stderr
        (before,) = jira_issues(jira, subtasks=False)
        assert before["key"] == "GROWTH-1" and "cogny-tkt_victim" in before["labels"]

        cogny.add_ticket(make_ticket(id=INJECTION, title="Injected"))
        cogny.add_ticket(make_ticket(id="tkt_VICTIM", title="Same id, other case"))
        second = run_cli("run-once", "-c", str(cfg), env=ENV)
        out = second.stdout + second.stderr
        assert second.returncode == 1, out  # the hostile ticket fails alone; the run goes on
        failures = second.stdout.split("failure(s):", 1)[-1]
        assert "1 failure(s)" in second.stdout and "labels" in failures and "tkt_VICTIM" not in failures
        assert "found existing record by marker" not in out

        after = jira.issue("GROWTH-1")
        assert (after["summary"], after["labels"]) == (before["summary"], before["labels"])
        (mine,) = [i for i in jira_issues(jira, subtasks=False) if i["key"] != "GROWTH-1"]
        assert mine["summary"] == "Same id, other case" and "cogny-tkt_VICTIM" in mine["labels"]

        links = Store.open(f"sqlite:///{tmp_path / 'syncd.db'}").list_links(connector="jira")
        assert {(ln.ticket_id, ln.external_key) for ln in links} == {
            ("tkt_victim", "GROWTH-1"), ("tkt_VICTIM", mine["key"])}  # one ticket per record
        listed = run_cli("links", "list", "-c", str(cfg), "--ticket", "tkt_victim", env=ENV)
        assert listed.returncode == 0 and "GROWTH-1" in listed.stdout and mine["key"] not in listed.stdout
        assert "Synced to JIRA: GROWTH-1" in cogny.ticket("tkt_victim")["notes"]
        assert "GROWTH-1" not in (cogny.ticket("tkt_VICTIM").get("notes") or "")
