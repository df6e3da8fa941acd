"""Asana as a sync-back source: what linked tasks say about progress, and Asana's webhooks.

Categories: a completed task is done, an open one todo (Asana has no "in progress"), a task
that answers 404 is deleted. Subtasks likewise.

Reading with `since=None` (a webhook named the task): `GET /tasks/{gid}` (404 → deleted) and
`GET /tasks/{gid}/subtasks`, two calls per task.

Reading with `since` (a poll) costs two calls per poll plus two per task that changed:
- `GET /tasks?project=P&modified_since=since` (paged) names parents that changed. It cannot
  name a parent whose subtask changed: Asana's `modified_since` note says a task is "not
  considered modified just because another object it is associated with (e.g. a subtask) is
  modified", and subtasks are not members of the project.
- So the project's events stream (`GET /events?resource=P&sync=…`) covers the rest: events on
  a project "bubble up" from its tasks "and even to subtasks" (spec, Events). A subtask event
  names the subtask, and the subtask → parent map learned from earlier reads (or an `added`
  event's `parent`) leads to the task. The sync token lives in this object; the first poll of a
  process (or a 412 for a stale token) reads every task in full instead.
- Asana delivers events at most once and recommends a fallback poll, so every task is also
  read in full once per `full_read_seconds` (default an hour).

The project listing and the events are fetched once per distinct `since`: the engine reads a
poll's refs in batches, and the changes found are kept for the batches that follow.

Webhooks: `create_webhook(target)` asks Asana to create the project's webhook (`POST /webhooks`);
Asana then sends the handshake, a request with `X-Hook-Secret`, to `target` before it answers.
The daemon (syncd.daemon.inbound) accepts a handshake only while this call runs, stores the secret and
echoes it. Deliveries (`parse_webhook`) carry `X-Hook-Signature` = hex HMAC-SHA256 of the body
keyed by that secret. `{"events": []}` is a heartbeat. A delivery names each task event's
resource and, for a subtask `added` to a task, that parent.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping, Sequence

import structlog

from connectors.asana.client import answer_body, answer_data
from syncd.sdk import (
    Category,
    Delivery,
    ExternalRef,
    RemoteState,
    latest,
    parse_time,
    signed_json,
)

log = structlog.get_logger("syncd.connectors.asana")
FIELDS = "completed,modified_at,name"
LISTING_MARGIN = timedelta(minutes=5)  # clock skew and late visibility: overlap costs only a re-read
MAX_EVENT_PAGES = 20                   # 100 events per page
MAX_DIRTY = 10_000                     # changed gids kept for later batches; beyond, everything is re-read


class AsanaSyncBack:
    """`read_states` / `parse_webhook` for one `AsanaConnector` (uses its HTTP client and project)."""

    def __init__(self, connector: Any, *, full_read_seconds: float | None = 3600,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.connector = connector
        self.http = connector.http
        self.project = connector.settings.project_gid
        self.full_read_seconds = full_read_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._sync: str | None = None             # events stream position on the project
        self._round: datetime | None = None        # the `since` whose listing and events were fetched
        self._listed: dict[str, dict[str, Any]] = {}  # parents the round's listing returned
        self._dirty: set[str] = set()               # task gids changed and not read since
        self._parent_of: dict[str, str] = {}        # subtask gid -> parent gid, from reads and events
        self._read_at: dict[str, float] = {}        # task gid -> clock() of its last full read

    # -- reading -----------------------------------------------------------------------------
    def read_states(self, refs: Sequence[ExternalRef],
                    since: datetime | None = None) -> dict[str, RemoteState]:
        gids = list(dict.fromkeys(r.id for r in refs if r.id))
        if since is not None:
            self._start_round(since)
            gids = [g for g in gids if self._due(g)]
        return {gid: self._read(gid, listed=since is not None) for gid in gids}

    def _due(self, gid: str) -> bool:
        """Whether a poll must read `gid`: it (or a subtask) changed, or it is due a full read."""
        with self._lock:
            if gid in self._dirty or gid not in self._read_at:
                return True
            full = self.full_read_seconds
            if full is not None and self.clock() - self._read_at[gid] >= full:
                return True
            return any(self._parent_of.get(d) == gid for d in self._dirty)

    def _read(self, gid: str, listed: bool) -> RemoteState:
        """The task and its subtasks; a poll reuses the row its listing already returned."""
        with self._lock:
            row = self._listed.get(gid) if listed else None  # a webhook's read is always fresh
        if row is None:
            response = self.http.send("GET", f"/tasks/{gid}", "sync-back get task",
                                      params={"opt_fields": FIELDS}, allow=(404,))
            if response.status_code == 404:
                self._forget(gid)
                return RemoteState(gid, "deleted", None, {}, "task deleted (404)")
            row = answer_data(response, "sync-back get task")
        subtasks = list(self.http.pages(f"/tasks/{gid}/subtasks", {"opt_fields": FIELDS},
                                        "sync-back list subtasks"))
        with self._lock:
            for sub in subtasks:
                self._parent_of[str(sub["gid"])] = gid
                self._dirty.discard(str(sub["gid"]))
            self._dirty.discard(gid)
            self._read_at[gid] = self.clock()
        return _state(gid, row, subtasks)

    def _forget(self, gid: str) -> None:
        with self._lock:
            self._dirty.discard(gid)
            self._read_at[gid] = self.clock()
            for child in [c for c, p in self._parent_of.items() if p == gid]:
                self._parent_of.pop(child, None)

    # -- what changed since the last poll -----------------------------------------------------
    def _start_round(self, since: datetime) -> None:
        """Once per distinct `since`: list the project's changed tasks and drain the events stream."""
        with self._lock:
            if self._round == since:
                return
        listed = self._list_changed(since)
        changed, lost = self._drain_events()
        with self._lock:
            self._round, self._listed = since, listed
            self._dirty |= set(listed) | changed
            if lost or len(self._dirty) > MAX_DIRTY:  # no reliable delta: read everything once
                self._dirty.clear()
                self._read_at.clear()

    def _list_changed(self, since: datetime) -> dict[str, dict[str, Any]]:
        moment = (since.astimezone(timezone.utc) if since.tzinfo else since.replace(tzinfo=timezone.utc))
        stamp = (moment - LISTING_MARGIN).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        params = {"project": self.project, "modified_since": stamp, "opt_fields": FIELDS}
        return {str(t["gid"]): t for t in self.http.pages("/tasks", params, "sync-back list changed tasks")}

    def _drain_events(self) -> tuple[set[str], bool]:
        """Task gids named by the project's events since the last poll, and whether the stream lost track.

        The new position is kept only once every page was read: a failed call leaves the old
        token, so the next poll reads the same events again instead of losing them.
        """
        changed: set[str] = set()
        token = self._sync
        for _ in range(MAX_EVENT_PAGES):
            params = {"resource": self.project, **({"sync": token} if token else {})}
            response = self.http.send("GET", "/events", "sync-back events", params=params, allow=(412,))
            body = answer_body(response, "sync-back events")
            token = body.get("sync") or token
            if response.status_code == 412:
                self._sync = token
                return changed, True  # first poll of this process, or the token expired
            for event in body.get("data") or []:
                changed |= self._named(event)
            if not body.get("has_more"):
                self._sync = token
                return changed, False
        log.warning("asana sync-back: events stream stopped at the page limit; reading every task")
        self._sync = token
        return changed, True

    def _named(self, event: Mapping[str, Any]) -> set[str]:
        """The task gids one event concerns: the task, its known parent, an `added` event's parent task."""
        resource, parent = event.get("resource") or {}, event.get("parent") or {}
        if resource.get("resource_type") != "task" or not resource.get("gid"):
            return set()
        gid, named = str(resource["gid"]), {str(resource["gid"])}
        if parent.get("resource_type") == "task" and parent.get("gid"):
            with self._lock:
                self._parent_of[gid] = str(parent["gid"])
            named.add(str(parent["gid"]))
        with self._lock:
            if gid in self._parent_of:
                named.add(self._parent_of[gid])
        return named

    # -- webhooks -------------------------------------------------------------------------------
    def create_webhook(self, target: str) -> tuple[str, str | None]:
        """Create the project's webhook pointing at `target`: its gid, and the secret Asana handed over.

        Asana answers only after the handshake to `target` succeeded; its answer repeats the
        secret (`X-Hook-Secret` in the body), so the engine can check it accepted Asana's handshake.
        """
        response = self.http.send("POST", "/webhooks", "create webhook",
                                  data={"resource": self.project, "target": target})
        body = answer_body(response, "create webhook")
        data, secret = body.get("data"), body.get("X-Hook-Secret")
        gid = str(data.get("gid") or "") if isinstance(data, dict) else ""
        return gid, secret if isinstance(secret, str) else None

    def parse_webhook(self, body: bytes, headers: Mapping[str, str], secrets: Sequence[str],
                      tolerance_seconds: int) -> Delivery:
        """The handshake (hand its secret over), or a delivery signed with `X-Hook-Signature`.

        `tolerance_seconds` is not used: Asana signs no timestamp, and a replay only causes a read.
        """
        handshake = headers.get("x-hook-secret")
        if handshake:
            return Delivery(True, handshake_secret=handshake)
        if not [s for s in secrets if s]:
            return Delivery(False, reason="no Asana webhook secret stored yet (the handshake hands it over)")
        payload, reason = signed_json(body, headers.get("x-hook-signature", ""), secrets, "X-Hook-Signature")
        if payload is None:
            return Delivery(False, reason=reason)
        if not isinstance(payload.get("events", []), list):
            return Delivery(False, reason="body is not an Asana events delivery")
        ids: list[str] = []
        for event in payload.get("events") or []:
            if isinstance(event, dict):
                ids += sorted(self._named(event))
        return Delivery(True, record_ids=tuple(dict.fromkeys(ids)))


def _state(gid: str, row: Mapping[str, Any], subtasks: Sequence[Mapping[str, Any]]) -> RemoteState:
    items: dict[str, Category] = {str(s["gid"]): "done" if s.get("completed") else "todo" for s in subtasks}
    updated = latest(parse_time(row.get("modified_at")),
                     *(parse_time(s.get("modified_at")) for s in subtasks))
    done = bool(row.get("completed"))
    return RemoteState(gid, "done" if done else "todo", updated, items, "completed" if done else "incomplete")
