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
public teams or to one team (`team_key`), for the resource types it names.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable

from syncd.sandbox._common.hooks import Delivery, Hook, HookDispatcher

if TYPE_CHECKING:
    from syncd.sandbox.linear.sandbox import LinearSandbox

ORGANIZATION_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "linear-sandbox/organization"))
PERSON = {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, "linear-sandbox/user/person")), "name": "Lin Person",
          "email": "person@example.com"}
PRIORITY_LABELS = ("No priority", "Urgent", "High", "Medium", "Low")
# Stored issue keys that updatedFrom reports when they change.
TRACKED = ("title", "description", "priority", "stateId", "parentId", "assigneeId", "estimate", "dueDate",
           "labelIds", "projectId", "completedAt", "canceledAt", "startedAt", "archivedAt", "trashed")


class LinearHooks:
    """Registered webhooks of one Linear sandbox, and the Issue events its changes fire."""

    def __init__(self, sb: "LinearSandbox") -> None:
        self.sb = sb
        self.dispatcher = HookDispatcher()

    def add(self, url: str, secret: str, resource_types: Iterable[str] = ("Issue",),
            team_key: str | None = None) -> str:
        team_id = self.sb.team_id(team_key) if team_key else None
        return self.dispatcher.add(url, _render, secret=secret, events=tuple(resource_types),
                                   hook_id=str(uuid.uuid4()), team_id=team_id).id

    def issue(self, action: str, issue: dict[str, Any], before: dict[str, Any] | None = None,
              actor: dict[str, Any] | None = None) -> None:
        """Queue one Issue event (caller holds the sandbox lock); an update that changed nothing fires none."""
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
            "action": action, "type": "Issue", "createdAt": _now(), "organizationId": ORGANIZATION_ID,
            "actor": {"id": who["id"], "name": who["name"], "email": who.get("email"), "type": "user"},
            "data": self.data(issue), "url": self.sb.issue_url(issue),
        }
        if updated_from is not None:
            payload["updatedFrom"] = updated_from
        self.dispatcher.emit("Issue", payload, only=lambda h: h.data.get("team_id") in (None, issue["teamId"]))

    def data(self, issue: dict[str, Any]) -> dict[str, Any]:
        """The issue as `IssueWebhookPayload` renders it (the fields the sandbox models)."""
        sb = self.sb
        state = sb.state(issue["stateId"]) or {}
        team = sb.teams[issue["teamId"]]
        keys = ("id", "identifier", "number", "title", "description", "priority", "estimate", "dueDate", "teamId",
                "stateId", "parentId", "assigneeId", "projectId", "labelIds", "createdAt", "updatedAt",
                "completedAt", "canceledAt", "startedAt", "archivedAt", "trashed")
        return {**{k: issue.get(k) for k in keys}, "priorityLabel": PRIORITY_LABELS[issue["priority"]],
                "sortOrder": float(issue["number"]), "prioritySortOrder": float(issue["priority"]),
                "previousIdentifiers": [], "subscriberIds": [], "labels": [], "reactionData": [],
                "state": {k: state.get(k) for k in ("id", "name", "type", "color")},
                "team": {"id": team["id"], "key": team["key"], "name": team["name"]},
                "url": sb.issue_url(issue)}


def sign(body: bytes, secret: str) -> str:
    """`Linear-Signature`: hex HMAC-SHA256 of the raw body."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _render(hook: Hook, payload: Any, delivery: Delivery) -> tuple[bytes, dict[str, str]]:
    # webhookTimestamp is when this attempt is sent (receivers check it against their clock).
    body = json.dumps({**payload, "webhookId": hook.id, "webhookTimestamp": int(time.time() * 1000)},
                      separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Linear-Webhook",
               "Linear-Delivery": delivery.id, "Linear-Event": payload["type"]}
    if hook.secret:
        headers["Linear-Signature"] = sign(body, hook.secret)
    return body, headers
