"""`syncd render` shows a connector's requests when it implements `syncd.sdk.Previews` (issue 20, point 8)."""

from __future__ import annotations

from typing import Any

from syncd.cli.render import _requests
from syncd.sdk import Desired, Previews, Ticket

TICKET = Ticket.parse({"id": "tkt_42", "title": "Add trust badges", "category": "conversion_optimization",
                       "priority": "high", "status": "open", "action_items": [{"title": "Design"}]})
DESIRED = Desired({"summary": "Add trust badges"}, {"Design": {"done": False}})


class Shows:
    def preview(self, ticket: Ticket, desired: Desired) -> list[dict[str, Any]]:
        return [{"method": "POST", "path": "/rest/api/2/issue",
                 "body": {"fields": {"summary": desired.record["summary"], "customfield_10016": 3}}}]


class Fails:
    def preview(self, ticket: Ticket, desired: Desired) -> list[dict[str, Any]]:
        raise RuntimeError("field list unreadable")


def test_a_connector_that_previews_shows_its_requests_as_sent() -> None:
    assert isinstance(Shows(), Previews)
    assert _requests(Shows(), TICKET, DESIRED) == {"requests": [
        {"method": "POST", "path": "/rest/api/2/issue",
         "body": {"fields": {"summary": "Add trust badges", "customfield_10016": 3}}}]}


def test_a_connector_without_preview_shows_its_record_and_says_so() -> None:
    shown = _requests(object(), TICKET, DESIRED)
    assert shown["requests"] is None and shown["record"] == {"summary": "Add trust badges"}
    assert shown["items"] == {"Design": {"done": False}} and "cannot show its request bodies" in shown["note"]


def test_a_preview_failing_fails_that_connector_alone() -> None:
    assert _requests(Fails(), TICKET, DESIRED) == {"error": "RuntimeError: field list unreadable"}
