"""Webhooks of the JIRA sandbox: JIRA's issue events, in JIRA's payload shape, signed as JIRA signs.

An admin webhook (System > WebHooks, or `POST /rest/webhooks/1.0/webhook`) with a secret makes
JIRA sign the raw body with HMAC-SHA256 and send it as `X-Hub-Signature: sha256=<hex>` (WebSub
style); every delivery carries `X-Atlassian-Webhook-Identifier` (unique, unchanged across
retries), `X-Atlassian-Webhook-Flow` and, on a retry, `X-Atlassian-Webhook-Retry`. The body:

    {"timestamp": <ms>, "webhookEvent": "jira:issue_updated", "issue_event_type_name": "issue_generic",
     "user": {...},
     "issue": {"id", "key", "self", "fields": {status, resolution, parent, issuetype, updated, ...}},
     "changelog": {"id": "...", "items": [{"field": "status", "fieldtype": "jira", "fieldId": "status",
                                           "from": "10000", "fromString": "To Do",
                                           "to": "10001", "toString": "Done"}]},
     "matchedWebhookIds": [1]}

Events fire for every change, whoever made it — through the REST API (syncd's own writes, as
real JIRA does) or through the sandbox's test helpers (a person in the UI). Tests register a
target with `JiraSandbox.add_webhook(url, secret=None, events=...)`. The hooks read the sandbox
through the small `Source` protocol, so the state can own its hooks without the two importing
each other.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any, Iterable, Protocol

from syncd.sandbox._common.hooks import Delivery, Hook, HookDispatcher, hmac_hex
from syncd.sandbox.jira.catalog import CUSTOM_FIELDS, PRIORITIES, RESOLUTIONS, STATUSES
from syncd.sandbox.jira.render import Renderer, Wanted, field_selector

ISSUE_EVENTS = ("jira:issue_created", "jira:issue_updated", "jira:issue_deleted")
PERSON = "jira.user@example.com"  # who the test helpers act as (a person in JIRA's UI)
# Stored issue key -> (changelog field name, fieldId) for the fields a changelog names.
_FIELDS = {"summary": "summary", "description": "description", "priority": "priority", "labels": "labels",
           "assignee": "assignee", "duedate": "duedate", "components": "Component",
           "parent": "IssueParentAssociation"}


class Source(Protocol):
    """What the hooks read from the sandbox: where it serves, its flavour, and its issues rendered."""

    projects: dict[str, dict[str, Any]]

    @property
    def running(self) -> bool: ...

    @property
    def url(self) -> str: ...

    @property
    def cloud(self) -> bool: ...

    def render_issue(self, render: Renderer, issue: dict[str, Any], wanted: Wanted) -> dict[str, Any]: ...


class JiraHooks:
    """Registered webhooks of one JIRA sandbox, and the events its state changes fire."""

    def __init__(self, sb: Source) -> None:
        self.sb = sb
        self.dispatcher = HookDispatcher()
        self._changelogs = itertools.count(10000)

    def add(self, url: str, secret: str | None = None, events: Iterable[str] = ISSUE_EVENTS) -> str:
        events = tuple(events)
        unknown = sorted(set(events) - set(ISSUE_EVENTS))
        if unknown:
            raise ValueError(f"unknown JIRA webhook events {unknown}; known: {list(ISSUE_EVENTS)}")
        return self.dispatcher.add(url, _render, secret=secret, events=events).id

    # -- events (callers hold the sandbox lock) -------------------------------------------
    def created(self, issue: dict[str, Any], user: str | None) -> None:
        self._emit("jira:issue_created", "issue_created", issue, user)

    def updated(self, issue: dict[str, Any], user: str | None, items: list[dict[str, Any]],
                kind: str = "issue_updated", comment: dict[str, Any] | None = None) -> None:
        if items or comment is not None:
            self._emit("jira:issue_updated", kind, issue, user, items=items, comment=comment)

    def deleted(self, issue: dict[str, Any], user: str | None) -> None:
        self._emit("jira:issue_deleted", "issue_deleted", issue, user)

    def _emit(self, event: str, kind: str, issue: dict[str, Any], user: str | None, *,
              items: list[dict[str, Any]] | None = None, comment: dict[str, Any] | None = None) -> None:
        if not self.dispatcher.hooks() or not self.sb.running:
            return
        render = Renderer(base=self.sb.url, version="2", cloud=self.sb.cloud, projects=self.sb.projects)
        payload: dict[str, Any] = {
            "timestamp": int(time.time() * 1000), "webhookEvent": event, "issue_event_type_name": kind,
            "user": render.user(user or PERSON),
            "issue": self.sb.render_issue(render, issue, field_selector([], "*navigable")),
        }
        if items is not None:
            payload["changelog"] = {"id": str(next(self._changelogs)), "items": items}
        if comment is not None:
            payload["comment"] = render.comment(issue, comment)
        self.dispatcher.emit(event, payload)


def changes(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """Changelog items taking stored issue `before` to `after` (status and resolution first, as JIRA does)."""
    items = []
    if before["status"] != after["status"]:
        items.append(_item("status", "status", STATUSES[before["status"]]["id"], before["status"],
                           STATUSES[after["status"]]["id"], after["status"]))
    if before["resolution"] != after["resolution"]:
        old, new = RESOLUTIONS.get(before["resolution"] or ""), RESOLUTIONS.get(after["resolution"] or "")
        items.append(_item("resolution", "resolution", old and old["id"], before["resolution"],
                           new and new["id"], after["resolution"]))
    for key, name in _FIELDS.items():
        if before.get(key) != after.get(key):
            items.append(_field_item(key, name, before.get(key), after.get(key)))
    for fid, spec in CUSTOM_FIELDS.items():
        old, new = before["custom"].get(fid), after["custom"].get(fid)
        if old != new:
            items.append({**_item(spec["name"], fid, None, _text(old), None, _text(new)),
                          "fieldtype": "custom"})
    return items


def _field_item(key: str, name: str, old: Any, new: Any) -> dict[str, Any]:
    if key == "priority":
        return _item(name, key, PRIORITIES.get(old), old, PRIORITIES.get(new), new)
    if key in ("assignee", "parent", "components"):
        return _item(name, key, _text(old), None, _text(new), None)
    return _item(name, key, None, _text(old), None, _text(new))


def _item(field: str, field_id: str, old: Any, old_text: Any, new: Any, new_text: Any) -> dict[str, Any]:
    return {"field": field, "fieldtype": "jira", "fieldId": field_id, "from": old, "fromString": old_text,
            "to": new, "toString": new_text}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _render(hook: Hook, payload: Any, delivery: Delivery) -> tuple[bytes, dict[str, str]]:
    """One attempt: the body names the matched webhook; a secret signs it as `X-Hub-Signature`."""
    body = json.dumps({**payload, "matchedWebhookIds": [int(hook.id)]}, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json; charset=UTF-8",
               "User-Agent": "Atlassian Webhook HTTP Client",
               "X-Atlassian-Webhook-Identifier": delivery.id, "X-Atlassian-Webhook-Flow": "Primary"}
    if delivery.attempts:
        headers["X-Atlassian-Webhook-Retry"] = str(delivery.attempts)
    if hook.secret:
        headers["X-Hub-Signature"] = "sha256=" + hmac_hex(hook.secret, body)
    return body, headers
