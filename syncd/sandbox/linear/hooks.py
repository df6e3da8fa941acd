"""Webhooks of the Linear sandbox: Linear's data-change webhooks for issues, signed as Linear signs.

Linear posts `{"action": "create"|"update"|"remove", "type": "Issue", "data": {...the issue...},
"updatedFrom": {...previous values of what changed...}, "url", "actor", "createdAt",
"organizationId", "webhookId", "webhookTimestamp": <ms when sent>}` with the headers
`Linear-Delivery` (a UUID per delivery), `Linear-Event` ("Issue") and `Linear-Signature` (hex
HMAC-SHA256 of the raw body with the webhook's signing secret). Receivers are told to reject a
`webhookTimestamp` more than a minute old (replays). `data` follows the schema's
`IssueWebhookPayload` (state as `{id, name, type, color}`, `stateId`, `parentId`, `updatedAt`, ...).

Events fire for every change, whoever made it: the GraphQL API (syncd's own writes) and the
test helpers (`set_state`, `remove_issue`, as a person in the app). A webhook listens to all
public teams or to one team, for the resource types it names. The hooks read the sandbox through
the small `Workspace` protocol, so the state can own its hooks without the two importing each other.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Iterable, Protocol

from syncd.sandbox._common.hooks import Delivery, Hook, HookDispatcher, hmac_hex
from syncd.sandbox.linear.wire import PRIORITY_LABELS, now_iso, stable_id

ORGANIZATION_ID = stable_id("organization")
PERSON = {"id": stable_id("user", "person"), "name": "Lin Person", "email": "person@example.com"}
# Stored issue keys that updatedFrom reports when they change.
TRACKED = ("title", "description", "priority", "stateId", "parentId", "assigneeId", "estimate", "dueDate",
           "labelIds", "projectId", "completedAt", "canceledAt", "startedAt", "archivedAt", "trashed")


class Workspace(Protocol):
    """What the hooks read from the sandbox: who acts by default, the teams, states and issue urls."""

    viewer: dict[str, Any]
    teams: dict[str, dict[str, Any]]

    def state(self, state_id: str) -> dict[str, Any] | None: ...

    def issue_url(self, issue: dict[str, Any]) -> str: ...


class LinearHooks:
    """Registered webhooks of one Linear sandbox, and the Issue events its changes fire."""

    def __init__(self, sb: Workspace) -> None:
        self.sb = sb
        self.dispatcher = HookDispatcher()

    def add(self, url: str, secret: str, resource_types: Iterable[str] = ("Issue",),
            team_id: str | None = None) -> str:
        """Register a webhook for every public team, or only for the team `team_id`; returns its id."""
        return self.dispatcher.add(url, _render, secret=secret, events=tuple(resource_types),
                                   hook_id=str(uuid.uuid4()), team_id=team_id).id

    def issue(self, action: str, issue: dict[str, Any], before: dict[str, Any] | None = None,
              actor: dict[str, Any] | None = None) -> None:
        """Queue one Issue event (caller holds the sandbox lock); an update that changed nothing has none."""
        if not self.dispatcher.hooks():
            return
        updated_from = None
        if before is not None:
            updated_from = {k: before.get(k) for k in TRACKED if before.get(k) != issue.get(k)}
            if not updated_from:
                return
            updated_from["updatedAt"] = before["updatedAt"]
        who = actor or self.sb.viewer
        payload: dict[str, Any] = {
            "action": action, "type": "Issue", "createdAt": now_iso(), "organizationId": ORGANIZATION_ID,
            "actor": {"id": who["id"], "name": who["name"], "email": who.get("email"), "type": "user"},
            "data": self.data(issue), "url": self.sb.issue_url(issue),
        }
        if updated_from is not None:
            payload["updatedFrom"] = updated_from
        self.dispatcher.emit("Issue", payload,
                             only=lambda h: h.data.get("team_id") in (None, issue["teamId"]))

    def data(self, issue: dict[str, Any]) -> dict[str, Any]:
        """The issue as `IssueWebhookPayload` renders it (the fields the sandbox models)."""
        sb = self.sb
        state = sb.state(issue["stateId"]) or {}
        team = sb.teams[issue["teamId"]]
        keys = ("id", "identifier", "number", "title", "description", "priority", "estimate", "dueDate",
                "teamId", "stateId", "parentId", "assigneeId", "projectId", "labelIds", "createdAt",
                "updatedAt", "completedAt", "canceledAt", "startedAt", "archivedAt", "trashed")
        return {**{k: issue.get(k) for k in keys}, "priorityLabel": PRIORITY_LABELS[issue["priority"]],
                "sortOrder": float(issue["number"]), "prioritySortOrder": float(issue["priority"]),
                "previousIdentifiers": [], "subscriberIds": [], "labels": [], "reactionData": [],
                "state": {k: state.get(k) for k in ("id", "name", "type", "color")},
                "team": {"id": team["id"], "key": team["key"], "name": team["name"]},
                "url": sb.issue_url(issue)}


def _render(hook: Hook, payload: Any, delivery: Delivery) -> tuple[bytes, dict[str, str]]:
    # webhookTimestamp is when this attempt is sent (receivers check it against their clock).
    body = json.dumps({**payload, "webhookId": hook.id, "webhookTimestamp": int(time.time() * 1000)},
                      separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Linear-Webhook",
               "Linear-Delivery": delivery.id, "Linear-Event": payload["type"]}
    if hook.secret:
        headers["Linear-Signature"] = hmac_hex(hook.secret, body)  # hex HMAC-SHA256 of the raw body
    return body, headers
