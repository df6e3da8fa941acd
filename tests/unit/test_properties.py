"""Properties over arbitrary ticket payloads (hypothesis).

1. Rendering: whatever the ticket says, every connector's desired record is a payload its
   target accepts (JIRA summary one line ≤ 255 and labels without spaces, Linear priority 0–4,
   Slack blocks within Block Kit limits, Asana fields well-formed), and ticket text never
   escapes its escaping.
2. Hashes are stable: render twice, from another connector instance, after a JSON round trip —
   same hash, so a restart never rewrites.

tests/integration/test_properties.py has the ones that need the outside world: the same hash in
another process, and reconcile twice = reconcile once against the sandboxes.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest
from hypothesis import given

from connectors.jira import JiraConnector, JiraSettings
from syncd import redact
from syncd.errors import TicketDataError
from syncd.models import Ticket
from syncd.sandbox.slack.blocks import MAX_BLOCKS, validate_blocks
from syncd.sdk.connector import Desired
from tests.support.properties import RENDER, connectors_for, parse, tickets


@pytest.fixture(scope="module")
def offline() -> Iterator[dict[str, Any]]:
    made = connectors_for({k: "http://127.0.0.1:9" for k in ("jira", "slack", "linear", "asana")})
    yield made
    for c in made.values():
        c.close()
    redact.clear()


def one_line(value: str) -> bool:
    return not any(ch in value for ch in "\n\r\u2028\u2029\x0b\x0c\x85")


def check_jira(d: Desired, ticket: Ticket) -> None:
    r = d.record
    assert isinstance(r["summary"], str) and r["summary"].strip() and one_line(r["summary"])
    assert len(r["summary"]) <= 255
    assert r["labels"] == sorted(set(r["labels"])) and f"cogny-{ticket.id}" in r["labels"]
    for label in r["labels"]:
        assert label and len(label) <= 255 and not any(ch.isspace() for ch in label), label
    assert r["priority"] in ("Highest", "High", "Medium", "Low")
    assert r["status"] in ("open", "done", "dismissed") and isinstance(r["description"], str)
    assert set(d.items) == {i.title for i in ticket.action_items}
    for item in d.items.values():
        assert item["summary"].strip() and one_line(item["summary"]) and len(item["summary"]) <= 255
        assert isinstance(item["completed"], bool) and isinstance(item["description"], str)


def check_linear(d: Desired, ticket: Ticket) -> None:
    r = d.record
    assert isinstance(r["priority"], int) and 0 <= r["priority"] <= 4
    assert r["title"].strip() and one_line(r["title"]) and len(r["title"]) <= 255
    assert r["status"] in ("open", "done", "canceled") and isinstance(r["description"], str)
    for item in d.items.values():
        assert item["title"].strip() and one_line(item["title"]) and len(item["title"]) <= 255
        assert isinstance(item["completed"], bool)


def check_slack(d: Desired, ticket: Ticket) -> None:
    r = d.record
    assert validate_blocks(r["blocks"]) == [], validate_blocks(r["blocks"])
    assert 1 <= len(r["blocks"]) <= MAX_BLOCKS
    assert isinstance(r["text"], str) and 0 < len(r["text"]) <= 40_000
    assert r["metadata"] == {"event_type": "cogny_ticket", "event_payload": {"ticket_id": ticket.id}}
    mention = "<!subteam^S0GROW>"
    rest = r["text"].removeprefix(mention) if ticket.priority == "critical" else r["text"]
    assert "<" not in rest and ">" not in rest, rest  # ticket text can never form a link or a ping
    for block in r["blocks"]:
        for piece in _texts(block):
            if piece != f"{mention} critical growth ticket":
                assert "<" not in piece and ">" not in piece, piece


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if value.get("type") in ("plain_text", "mrkdwn") and isinstance(value.get("text"), str):
            yield value["text"]
        for v in value.values():
            yield from _texts(v)
    elif isinstance(value, list):
        for v in value:
            yield from _texts(v)


def check_asana(d: Desired, ticket: Ticket) -> None:
    r = d.record
    assert isinstance(r["name"], str) and one_line(r["name"])
    assert r["notes"].rstrip().splitlines()[-1] == f"cogny:{ticket.id}"  # the marker stays the last line
    assert r["completed"] is (ticket.status in ("completed", "dismissed"))
    assert r["custom_fields"] == {"1": {"critical": "11", "high": "12", "medium": "13",
                                        "low": "14"}[ticket.priority]}
    for item in d.items.values():
        assert isinstance(item["name"], str) and isinstance(item["notes"], str)
        assert isinstance(item["completed"], bool)


CHECKS = {"jira": check_jira, "linear": check_linear, "slack": check_slack, "asana": check_asana}


@RENDER
@given(tickets())
def test_every_render_is_a_valid_payload_and_its_hash_is_stable(offline: dict[str, Any],
                                                                raw: dict[str, Any]) -> None:
    ticket = parse(raw)
    again = Ticket.parse(json.loads(json.dumps(raw)))
    for name, connector in offline.items():
        desired = connector.render(ticket)
        CHECKS[name](desired, ticket)
        assert connector.render(ticket).hash() == desired.hash()
        assert connector.render(again).hash() == desired.hash()  # a JSON round trip changes nothing
        json.dumps(desired.to_json())  # storable as the applied record


@RENDER
@given(tickets())
def test_jira_default_description_template_equals_the_builtin_path(raw: dict[str, Any]) -> None:
    """Without templates JIRA renders the description in Python (`render_description`); the shipped
    default template must give the very same record, whatever the ticket says (hashes in stores)."""
    from syncd.sdk.templates import default_source

    ticket = parse(raw)
    settings_ = dict(url="http://jira.test", token="t", project="G")
    builtin = JiraConnector("jira", JiraSettings(**settings_))
    templated = JiraConnector("jira", JiraSettings(**settings_, template={
        "description": default_source("jira", "description")}))
    assert builtin.render(ticket).to_json() == templated.render(ticket).to_json()


@pytest.mark.parametrize("where", ["title", "item title"])
@pytest.mark.parametrize("blank", [" \n\t", "\u2028\u3000"], ids=["ascii", "unicode"])
def test_blank_titles_are_refused_or_rendered_non_empty(offline: dict[str, Any], blank: str,
                                                        where: str) -> None:
    from syncd.sandbox._common.tickets import make_ticket

    raw = make_ticket(title=blank) if where == "title" else make_ticket(action_items=[{"title": blank}])
    try:
        ticket = Ticket.parse(raw)
    except TicketDataError as exc:
        assert "title" in str(exc)
        return
    for name in ("jira", "linear"):
        desired = offline[name].render(ticket)
        texts = [desired.record["summary" if name == "jira" else "title"]]
        texts += [i["summary" if name == "jira" else "title"] for i in desired.items.values()]
        assert all(t.strip() for t in texts), (name, texts)


