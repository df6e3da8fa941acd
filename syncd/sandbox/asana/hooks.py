"""Events of the Asana sandbox: the event log, its webhooks and the events stream behind them.

Every task change the sandbox makes — through the API (syncd's own writes) or the test helpers
(`complete`, `delete`, a person in the app) — becomes Asana events (Event schema of the
published spec): `added` (to a project, or a subtask to its parent task; `parent` names it),
`changed` (one per field, `change: {field, action}`), `deleted`. An event "bubbles up" (the
spec's Events tag: a subscription on a project includes events on its tasks "and even to
subtasks"): it reaches the task itself, its parent task chain and every project of those.

- `POST /webhooks {data: {resource, target, filters?}}` first POSTs a handshake to `target`
  with an `X-Hook-Secret` header; only when the target answers 200/204 echoing that header is the
  webhook created (201, the secret also in the body as the docs' example shows); otherwise 400.
  Event deliveries are `{"events": [...]}` with `X-Hook-Signature` = hex HMAC-SHA256 of the body
  keyed by that secret; `heartbeat()` sends the empty `{"events": []}` Asana sends periodically.
  Deviation: real Asana refuses targets on localhost (403); here everything is on 127.0.0.1.
- `GET /events?resource=R&sync=T`: the same events as a stream. Without (or with a stale) sync
  token: 412 with a fresh `sync` token; then up to 100 events per call, `has_more` for the rest.

This module keeps the log and the registry and renders deliveries; the HTTP endpoints over them
(`/webhooks`, `/events`, the handshake) are in `webhooks.py`. It reads the sandbox's state through
the small `Workspace` protocol, so the state can own its events without the two importing each other.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Protocol

from syncd.sandbox._common import tokens
from syncd.sandbox._common.hooks import Delivery, Hook, HookDispatcher, hmac_hex
from syncd.sandbox.asana.wire import ApiError, now_iso

EVENTS_PER_PAGE = 100
STALE_SYNC = ("Sync token invalid or too old. If you are attempting to keep resources in sync, you must "
              "fetch the full dataset for this query now and use the new sync token for the next sync.")
WATCHED = ("name", "notes", "completed", "assignee", "due_on", "due_at", "custom_fields", "parent",
           "external")


class Workspace(Protocol):
    """What the events read from the sandbox's state: who acts, the tasks and projects, new gids."""

    user: dict[str, Any]
    tasks: dict[str, dict[str, Any]]
    projects: dict[str, dict[str, Any]]

    def new_gid(self) -> str: ...


class AsanaEvents:
    """The event log and webhooks of one Asana sandbox (callers of the recording methods hold its lock)."""

    def __init__(self, sb: Workspace) -> None:
        self.sb = sb
        self.dispatcher = HookDispatcher()
        # (sequence, reached resources, event)
        self.log: list[tuple[int, frozenset[str], dict[str, Any]]] = []
        self.webhooks: dict[str, dict[str, Any]] = {}  # gid -> webhook record (secret kept by the dispatcher)

    # -- recording ----------------------------------------------------------------------------
    def added(self, task: dict[str, Any], parent_type: str, parent_gid: str) -> None:
        parent = {"gid": parent_gid, "resource_type": parent_type}
        self._record([self._event(task, "added", parent=parent)], task)

    def changed(self, task: dict[str, Any], before: dict[str, Any]) -> None:
        fields = [f for f in WATCHED if before.get(f) != task.get(f)]
        self._record([self._event(task, "changed", change={"field": f, "action": "changed"})
                      for f in fields], task)

    def deleted(self, task: dict[str, Any]) -> None:
        self._record([self._event(task, "deleted")], task)

    def _event(self, task: dict[str, Any], action: str, **extra: Any) -> dict[str, Any]:
        return {"user": {"gid": self.sb.user["gid"], "resource_type": "user"}, "created_at": now_iso(),
                "action": action, "resource": {"gid": task["gid"], "resource_type": "task",
                                               "resource_subtype": task["resource_subtype"]},
                "parent": extra.get("parent"), **({"change": extra["change"]} if "change" in extra else {})}

    def _reached(self, task: dict[str, Any]) -> frozenset[str]:
        """The task, its parent chain and all their projects: every resource an event on `task` reaches."""
        reached: set[str] = set()
        current: dict[str, Any] | None = task
        for _ in range(100):  # bounded: a parent chain is short
            if current is None:
                break
            reached.add(current["gid"])
            reached.update(m["project"] for m in current["memberships"])
            current = self.sb.tasks.get(current["parent"] or "")
        return frozenset(reached)

    def _record(self, events: list[dict[str, Any]], task: dict[str, Any]) -> None:
        if not events:
            return
        reached = self._reached(task)
        for event in events:
            self.log.append((len(self.log) + 1, reached, event))
        for hook in self.dispatcher.hooks():
            wanted = [e for e in events
                      if hook.data["resource"] in reached and _passes(e, hook.data["filters"])]
            if wanted:
                self.dispatcher.emit("events", {"events": wanted}, only=_only(hook.id))

    def heartbeat(self) -> None:
        """The empty delivery Asana sends to every webhook now and then (8-hourly)."""
        for hook in self.dispatcher.hooks():
            self.dispatcher.emit("events", {"events": []}, only=_only(hook.id))

    # -- webhooks -------------------------------------------------------------------------------
    def create(self, resource: str, target: str, filters: list[dict[str, Any]],
               secret: str) -> dict[str, Any]:
        gid = self.sb.new_gid()
        record = {"gid": gid, "resource_type": "webhook", "active": True, "resource": self.resource(resource),
                  "target": target, "created_at": now_iso(), "filters": filters, "last_success_at": None,
                  "last_failure_at": None, "last_failure_content": "", "delivery_retry_count": 0}
        self.webhooks[gid] = record
        self.dispatcher.add(target, _render, secret=secret, events=("events",), hook_id=gid,
                            resource=resource, filters=filters)
        return record

    def delete(self, gid: str) -> None:
        if self.webhooks.pop(gid, None) is None:
            raise ApiError(404, f"webhook: Unknown object: {gid}")
        self.dispatcher.remove(gid)

    def resource(self, gid: str) -> dict[str, Any]:
        """The compact record of a project or task a webhook or the events stream may watch; 400 otherwise."""
        sb = self.sb
        if gid in sb.projects:
            return {"gid": gid, "resource_type": "project", "name": sb.projects[gid]["name"]}
        if gid in sb.tasks:
            return {"gid": gid, "resource_type": "task", "name": sb.tasks[gid]["name"]}
        raise ApiError(400, f"resource: Not a recognized ID: {gid}")

    # -- events stream --------------------------------------------------------------------------
    def page(self, resource: str, token: str | None) -> tuple[int, dict[str, Any]]:
        self.resource(resource)
        start = _read_sync(token, resource)
        if start is None or start > len(self.log):
            return 412, {"errors": [{"message": STALE_SYNC}], "sync": _sync(resource, len(self.log))}
        matching = [(seq, e) for seq, reached, e in self.log[start:] if resource in reached]
        chunk = matching[:EVENTS_PER_PAGE]
        end = chunk[-1][0] if len(matching) > EVENTS_PER_PAGE else len(self.log)
        return 200, {"data": [e for _, e in chunk], "sync": _sync(resource, end),
                     "has_more": len(matching) > EVENTS_PER_PAGE}


def _only(hook_id: str) -> Callable[[Hook], bool]:
    """The filter that picks one webhook, so each gets only the events its own resource and filters want."""
    return lambda hook: hook.id == hook_id


def _passes(event: dict[str, Any], filters: list[dict[str, Any]]) -> bool:
    """WebhookFilter semantics: no filters pass everything; otherwise any one filter must match."""
    if not filters:
        return True
    for f in filters:
        if f.get("resource_type") not in (None, event["resource"]["resource_type"]):
            continue
        if f.get("resource_subtype") not in (None, event["resource"].get("resource_subtype")):
            continue
        if f.get("action") not in (None, event["action"]):
            continue
        if f.get("fields") and (event.get("change") or {}).get("field") not in f["fields"]:
            continue
        return True
    return False


def _sync(resource: str, position: int) -> str:
    return tokens.encode(json.dumps([resource, position]).encode())


def _read_sync(token: str | None, resource: str) -> int | None:
    if not token:
        return None
    try:
        found, position = json.loads(tokens.decode(token))
    except (ValueError, TypeError):
        return None
    return position if found == resource and isinstance(position, int) and position >= 0 else None


def _render(hook: Hook, payload: Any, delivery: Delivery) -> tuple[bytes, dict[str, str]]:
    """One delivery: the compact JSON body, and `X-Hook-Signature` keyed by the handshake secret."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    return body, {"Content-Type": "application/json; charset=UTF-8",
                  "X-Hook-Signature": hmac_hex(hook.secret or "", body)}
