"""The Linear connector over real HTTP against the Linear sandbox, driven by the real reconcile engine.

The sandbox validates every GraphQL document against Linear's published schema; the `linear`
fixture fails any test in which the connector sent a document that did not validate.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from graphql import parse, validate
from pydantic import ValidationError

from connectors.linear import LinearConnector, LinearSettings
from connectors.linear.graphql import OPERATIONS, auth_header
from connectors.linear.render import escape_markdown
from syncd.errors import ConnectorError
from syncd.http import RetryPolicy
from syncd.models import Ticket
from syncd.sandbox._common.tickets import make_ticket
from syncd.sandbox.linear.schema import load_schema
from syncd.sdk.connector import Desired, ExternalRef
from tests.support.engine import engine, reconcile
from tests.support.records import linear_parents

KEY = "lin_api_sandbox"
FAST = RetryPolicy(max_attempts=4, backoff=0.01, max_backoff=0.05, timeout=5)


@pytest.fixture
def linear() -> Iterator[Any]:
    from syncd.sandbox.linear.sandbox import LinearSandbox

    with LinearSandbox(teams={"GROW": "Growth", "OPS": "Operations"}) as sb:
        yield sb
    bad = [d for d in sb.documents if not d["valid"] and "deliberately" not in d["query"]]
    assert not bad, f"documents that do not validate against Linear's schema: {bad}"


def connector(sb: Any, policy: RetryPolicy = FAST, sleep: Any = time.sleep,
              **settings: Any) -> LinearConnector:
    values = {"api_key": KEY, "team_key": "GROW", "api_url": f"{sb.url}/graphql", **settings}
    return LinearConnector("linear", LinearSettings(**values), policy=policy, sleep=sleep)


def ticket(**overrides: Any) -> Ticket:
    return Ticket.parse(make_ticket(**overrides))


def post(sb: Any, query: str, variables: dict[str, Any] | None = None, key: str = KEY) -> httpx.Response:
    return httpx.post(f"{sb.url}/graphql", json={"query": query, "variables": variables or {}},
                      headers={"Authorization": key}, timeout=5)


def writes(sb: Any) -> list[str]:
    """Operation names of the mutations the sandbox served (attempted writes)."""
    return [r.json()["operationName"] for r in sb.log.writes()]


# -- the documents ----------------------------------------------------------------------------

def test_every_connector_document_is_named_and_validates_against_linears_schema() -> None:
    schema = load_schema()
    for op in OPERATIONS:
        document = parse(op.document)
        assert validate(schema, document) == [], op.name
        (definition,) = document.definitions
        assert definition.name.value == op.name  # type: ignore[attr-defined]
        assert (definition.operation.value == "mutation") == op.mutation  # type: ignore[attr-defined]


# -- create, update, states ---------------------------------------------------------------------

def test_create_mirrors_ticket_with_sub_issues_marker_and_priority(linear: Any, tmp_path: Path) -> None:
    t = ticket(description="Try *bold*, [link](https://evil.example) and <b>html</b>\n# not a heading")
    rec = engine(tmp_path, connector(linear))
    (outcome,) = reconcile(rec, t, ["linear"]).outcomes
    assert outcome.action == "created", outcome.error
    (issue,) = linear_parents(linear)
    assert outcome.ref is not None and (outcome.ref.id, outcome.ref.key) == (issue["id"], "GROW-1")
    assert outcome.ref.url == issue["url"] and issue["url"].startswith("https://linear.app/sandbox/issue/GROW-1/")
    assert issue["priority"] == 2 and issue["title"] == t.title and issue["state"] == "Backlog"
    assert r"\*bold\*" in issue["description"] and r"\[link\]\(https" in issue["description"]
    assert r"\<b\>html\</b\>" in issue["description"] and "\n\\# not a heading" in issue["description"]
    assert f"]({t.url})" in issue["description"]  # our own link stays a link
    kids = linear.children("GROW-1")
    assert sorted(k["title"] for k in kids) == sorted(i.title for i in t.action_items)
    assert all(k["parentId"] == issue["id"] and k["team"] == "GROW" for k in kids)
    (marker,) = linear.attachments.values()
    assert marker["issueId"] == issue["id"] and marker["url"] == t.url
    assert writes(linear) == ["IssueCreate", "AttachmentCreate", "IssueBatchCreate"]
    assert rec.cogny.ticket(t.id).notes.endswith(f"GROW-1 {issue['url']}")

    linear.log.clear()
    assert reconcile(rec, t, ["linear"]).outcomes[0].action == "unchanged"
    assert linear.log.all() == []  # nothing changed: not a single request


def test_completed_items_go_to_done_and_ticket_states_follow(linear: Any, tmp_path: Path) -> None:
    raw = make_ticket()
    raw["action_items"][0]["completed"] = True
    rec = engine(tmp_path, connector(linear))
    assert reconcile(rec, Ticket.parse(raw), ["linear"]).outcomes[0].action == "created"
    states = {k["title"]: k["state"] for k in linear.children("GROW-1")}
    assert states == {raw["action_items"][0]["title"]: "Done", raw["action_items"][1]["title"]: "Backlog"}

    raw["action_items"][1]["completed"] = True
    reconcile(rec, Ticket.parse(raw), ["linear"])
    assert {k["state"] for k in linear.children("GROW-1")} == {"Done"}
    assert linear.issue_by_identifier("GROW-1")["state"] == "Backlog"

    raw["status"] = "completed"
    reconcile(rec, Ticket.parse(raw), ["linear"])
    done = linear.issue_by_identifier("GROW-1")
    assert done["state"] == "Done" and done["completedAt"]

    raw["status"] = "open"  # reopened in Cogny: back to the team's first unstarted state
    reconcile(rec, Ticket.parse(raw), ["linear"])
    assert linear.issue_by_identifier("GROW-1")["state"] == "Todo"


def test_dismissed_ticket_goes_to_canceled_and_states_are_configurable(linear: Any, tmp_path: Path) -> None:
    rec = engine(tmp_path, connector(linear))
    first = make_ticket(status="dismissed")
    reconcile(rec, Ticket.parse(first), ["linear"])
    assert linear_parents(linear)[0]["state"] == "Canceled" and linear_parents(linear)[0]["canceledAt"]

    custom = engine(tmp_path, connector(linear, done_state="in review", canceled_state="Duplicate"),
                    "other.db")
    reconcile(custom, ticket(status="completed"), ["linear"])
    reconcile(custom, ticket(status="dismissed"), ["linear"])
    assert [p["state"] for p in linear_parents(linear)][1:] == ["In Review", "Duplicate"]

    wrong = connector(linear, done_state="Shipped")
    with pytest.raises(ConnectorError, match="done_state 'Shipped' is not a state of team GROW"):
        wrong.create(ticket(status="completed"), wrong.render(ticket(status="completed")))
    assert not wrong.check()[-1].ok


def test_update_changes_title_and_priority_on_the_same_issue(linear: Any, tmp_path: Path) -> None:
    label, project = linear.add_label("growth"), linear.add_project("Q3 growth")
    rec = engine(tmp_path, connector(linear, label_ids=[label], project_id=project))
    raw = make_ticket()
    first = reconcile(rec, Ticket.parse(raw), ["linear"]).outcomes[0].ref
    [made] = linear_parents(linear)
    assert made["labelIds"] == [label] and made["projectId"] == project
    theirs = linear.add_label("from-a-person")
    with linear.lock:
        linear.issues[first.id]["labelIds"].append(theirs)

    raw.update(title="Optimize the Mobile Checkout", priority="critical")
    linear.log.clear()
    second = reconcile(rec, Ticket.parse(raw), ["linear"]).outcomes[0]
    assert second.action == "updated" and second.ref.id == first.id and second.ref.key == "GROW-1"
    (issue,) = linear_parents(linear)
    assert issue["title"] == "Optimize the Mobile Checkout" and issue["priority"] == 1
    assert issue["labelIds"] == [label, theirs]  # a label someone added is left alone
    assert writes(linear) == ["IssueUpdate"]
    assert second.ref.url == issue["url"] and issue["url"].endswith("/optimize-the-mobile-checkout")


# -- recovery (docs/design.md invariant 1) --------------------------------------------------------------

def test_find_recovers_by_attachment_and_sub_issues_by_title_after_the_store_is_lost(
        linear: Any, tmp_path: Path) -> None:
    t = ticket()
    conn = connector(linear)
    first = reconcile(engine(tmp_path, conn, "lost.db"), t, ["linear"]).outcomes[0].ref
    assert conn.find(t) == first
    assert set(conn.find_items(first)) == {i.title for i in t.action_items}

    linear.log.clear()
    again = reconcile(engine(tmp_path, conn, "fresh.db"), t, ["linear"]).outcomes[0]
    assert again.action == "updated" and again.ref == first
    assert len(linear_parents(linear)) == 1 and len(linear.children(first.key)) == len(t.action_items)
    assert len(linear.attachments) == 1  # re-stamping the marker upserted it
    assert "IssueCreate" not in writes(linear) and "IssueBatchCreate" not in writes(linear)


def test_crash_between_issue_create_and_marker_makes_no_duplicate(
        linear: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    t = ticket()
    conn = connector(linear)
    rec = engine(tmp_path, conn)

    def crash(*args: Any) -> None:
        raise ConnectorError("linear", "connection lost")

    monkeypatch.setattr(conn, "_stamp", crash)
    assert reconcile(rec, t, ["linear"]).outcomes[0].action == "failed"
    assert len(linear_parents(linear)) == 1 and not linear.attachments
    monkeypatch.undo()

    outcome = reconcile(rec, t, ["linear"]).outcomes[0]
    assert outcome.action == "updated" and outcome.ref.key == "GROW-1"  # found by its derived id
    assert len(linear_parents(linear)) == 1 and len(linear.attachments) == 1
    assert len(linear.children("GROW-1")) == len(t.action_items)


# -- errors -------------------------------------------------------------------------------------

@pytest.mark.parametrize("status, retry_after", [(400, None), (200, 0.03)])
def test_ratelimited_is_retried_a_bounded_number_of_times(linear: Any, status: int,
                                                          retry_after: float | None) -> None:
    waits: list[float] = []
    conn = connector(linear, sleep=lambda s: (waits.append(s), time.sleep(s)))
    conn.team()
    linear.rate_limit(2, status=status, retry_after=retry_after)
    t = ticket()
    ref = conn.create(t, conn.render(t))
    assert ref.key == "GROW-1" and len(linear_parents(linear)) == 1
    statuses = [r.status for r in linear.log.all()][-4:]
    assert statuses == [status, status, 200, 200]  # IssueCreate twice refused, then created; marker
    assert len(waits) == 2 and all(w <= FAST.max_backoff for w in waits) if retry_after is None \
        else waits == [retry_after, retry_after]

    linear.rate_limit(100)
    linear.log.clear()
    with pytest.raises(ConnectorError) as caught:
        conn.find(t)
    assert caught.value.code == "RATELIMITED" and "still rate limited" in str(caught.value)
    assert len(linear.log) == FAST.max_attempts


def test_bad_api_key_is_named_without_leaking_it(linear: Any) -> None:
    secret = "lin_api_wrong_0123456789abcdef"
    conn = connector(linear, api_key=secret)
    with pytest.raises(ConnectorError) as caught:
        conn.find(ticket())
    message = str(caught.value)
    assert "AUTHENTICATION_ERROR" in message and "api_key" in message and secret not in message
    (check,) = conn.check()
    assert not check.ok and "authentication failed" in check.detail and secret not in check.detail
    assert len(linear.log) == 2 and not linear.log.writes()  # refused, never retried


def test_graphql_and_http_errors_become_clear_redacted_connector_errors() -> None:
    """Answers the sandbox never gives: a server echoing the key, success: false, 502, HTML."""
    secret = "lin_api_echoed_0123456789abcdef"
    answers = iter([
        httpx.Response(200, json={"errors": [{"message": f"key {secret} is revoked",
                                              "extensions": {"code": "X"}}]}),
        httpx.Response(200, json={"data": {"issueUpdate": {"success": False, "issue": None}}}),
        httpx.Response(502, text="<html>bad gateway</html>"),
        httpx.Response(200, json={"data": None}),
    ])
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return next(answers)

    conn = LinearConnector("linear", LinearSettings(api_key=secret, team_id="t"),
                           policy=RetryPolicy(max_attempts=1), transport=httpx.MockTransport(handler))
    item = {"title": "t", "description": "", "completed": False}
    ref = ExternalRef("i", "GROW-1")
    with pytest.raises(ConnectorError) as caught:
        conn.find_items(ref)
    assert secret not in str(caught.value) and "revoked" in str(caught.value) and caught.value.code == "X"
    assert seen[0].headers["authorization"] == secret  # a personal key goes bare, as Linear wants
    with pytest.raises(ConnectorError, match="IssueUpdate: Linear answered success: false"):
        conn.update_item(ref, ref, item, None)
    with pytest.raises(ConnectorError, match="not GraphQL JSON") as caught:
        conn.update_item(ref, ref, item, None)
    assert caught.value.status == 502 and caught.value.retryable and len(seen) == 3  # a mutation: not retried
    with pytest.raises(ConnectorError, match="unexpected answer"):
        conn.find_items(ref)
    conn.close()


def test_team_key_resolves_once_and_bad_settings_are_refused(linear: Any, tmp_path: Path) -> None:
    conn = connector(linear, team_key="ops")
    rec = engine(tmp_path, conn)
    for _ in range(3):
        reconcile(rec, ticket(), ["linear"])
    assert [p["identifier"] for p in linear_parents(linear)] == ["OPS-1", "OPS-4", "OPS-7"]
    assert [d["operation"] for d in linear.documents].count("TeamByKey") == 1
    assert connector(linear, team_key=None, team_id=linear.team_id("GROW")).team().key == "GROW"
    with pytest.raises(ConnectorError, match="team_key 'NOPE'"):
        connector(linear, team_key="NOPE").team()
    for bad in ({"team_id": "x"}, {"team_key": None}, {"priority_map": {"critical": 5}}, {"colour": "red"}):
        with pytest.raises(ValidationError):
            LinearSettings(**{"api_key": KEY, "team_key": "GROW", **bad})


def test_a_personal_key_goes_bare_and_an_oauth_token_as_bearer() -> None:
    assert auth_header("lin_api_x") == "lin_api_x" and auth_header("lin_oauth_x") == "Bearer lin_oauth_x"


def test_render_is_pure_and_escapes_item_text() -> None:
    settings = LinearSettings(api_key=KEY, team_key="GROW",
                              priority_map={"critical": 1, "high": 1, "medium": 3, "low": 0})
    conn = LinearConnector("linear", settings)
    raw = make_ticket(priority="low")
    raw["action_items"][0]["description"] = "1. Ship *it*"
    desired = conn.render(Ticket.parse(raw))
    assert desired == conn.render(Ticket.parse(raw)) and isinstance(desired, Desired)
    assert desired.record["priority"] == 0 and desired.record["status"] == "open"
    assert desired.items[raw["action_items"][0]["title"]]["description"].startswith(r"1\. Ship \*it\*")
    assert escape_markdown("a_b [x](y) <i> | ~ `c`") == r"a\_b \[x\]\(y\) \<i\> \| \~ \`c\`"
    conn.close()


