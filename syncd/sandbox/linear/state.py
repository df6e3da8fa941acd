"""The Linear sandbox's state: teams and their workflow states, issues, attachments, labels, projects.

State is plain dicts guarded by `self.lock`. `LinearState` holds it and changes it as Linear
does (the resolvers of resolvers.py check inputs, then call `insert_issue`, `apply_update` and
`upsert_attachment`); the GraphQL endpoint on top is `LinearSandbox` (sandbox.py). Every
document received is kept in `documents` so a test can assert that all of them validated.

Tests inspect state with `issue_by_identifier`, `children`, `states`, `attachments` and act as a
person would with `set_state` and `remove_issue`. Webhooks (`add_webhook`, `hooks.flush()`,
`hooks.deliveries()`) are in hooks.py; they fire for API writes and helpers alike.
"""

from __future__ import annotations

import copy
import re
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from syncd.sandbox._common.base import Sandbox
from syncd.sandbox._common.hooks import HookDispatcher
from syncd.sandbox.linear.hooks import PERSON, LinearHooks
from syncd.sandbox.linear.schema import load_schema
from syncd.sandbox.linear.wire import iso, now_iso, stable_id

DEFAULT_KEY = "lin_api_sandbox"
# A new Linear team's workflow, in board order: (name, type).
DEFAULT_STATES = (("Backlog", "backlog"), ("Todo", "unstarted"), ("In Progress", "started"),
                  ("In Review", "started"), ("Done", "completed"), ("Canceled", "canceled"),
                  ("Duplicate", "canceled"))
NEW_ISSUE_STATE = "Backlog"


class LinearState(Sandbox):
    """One Linear workspace's data and the rules it changes by; `LinearSandbox` serves it over GraphQL."""

    name = "linear"

    def __init__(self, *, api_keys: set[str] | None = None, teams: dict[str, str] | None = None,
                 url_base: str = "https://linear.app/sandbox") -> None:
        super().__init__()
        self.schema = load_schema()
        self.api_keys = set(api_keys) if api_keys is not None else {DEFAULT_KEY}
        self.url_base = url_base.rstrip("/")
        self.viewer = {"id": stable_id("user", "bot"), "name": "Sandbox Bot", "displayName": "bot",
                       "email": "bot@example.com", "active": True}
        self.teams: dict[str, dict[str, Any]] = {}
        self.team_states: dict[str, list[dict[str, Any]]] = {}
        for key, team_name in (teams if teams is not None else {"GROW": "Growth"}).items():
            self._add_team(key, team_name)
        self.issues: dict[str, dict[str, Any]] = {}
        self.attachments: dict[str, dict[str, Any]] = {}
        self.labels: dict[str, dict[str, Any]] = {}
        self.projects: dict[str, dict[str, Any]] = {}
        self.documents: list[dict[str, Any]] = []
        self._numbers = {t: 0 for t in self.teams}
        self._throttle_skip = self._throttle_left = 0
        self._throttle_status = 400
        self._throttle_retry_after: float | None = None
        self._webhooks = LinearHooks(self)
        self.hooks: HookDispatcher = self._webhooks.dispatcher  # deliveries(), flush() for tests

    def stop(self) -> None:
        self.hooks.stop()
        super().stop()

    def add_webhook(self, url: str, secret: str, resource_types: tuple[str, ...] = ("Issue",),
                    team_key: str | None = None) -> str:
        """Register a webhook to `url` signed with `secret` (all public teams, or `team_key`); its id."""
        with self.lock:
            team_id = self.team_id(team_key) if team_key else None
            return self._webhooks.add(url, secret, resource_types, team_id)

    # --- knobs and helpers for tests (thread-safe) -----------------------------------------

    def rate_limit(self, count: int, *, after: int = 0, status: int = 400,
                   retry_after: float | None = None) -> None:
        """Serve `after` more requests, then answer the next `count` with RATELIMITED."""
        with self.lock:
            self._throttle_skip, self._throttle_left = after, count
            self._throttle_status, self._throttle_retry_after = status, retry_after

    def _throttled(self) -> bool:
        """Whether this request is one the `rate_limit` knob refuses (counts it down)."""
        with self.lock:
            if self._throttle_left <= 0:
                return False
            if self._throttle_skip > 0:
                self._throttle_skip -= 1
                return False
            self._throttle_left -= 1
            return True

    def team_id(self, key: str) -> str:
        with self.lock:
            team_id: str = next(t["id"] for t in self.teams.values() if t["key"] == key)
            return team_id

    def states(self, team_key: str) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(self.team_states[self.team_id(team_key)])

    def add_label(self, name: str, team_key: str | None = None) -> str:
        with self.lock:
            label_id = str(uuid.uuid4())
            self.labels[label_id] = {"id": label_id, "name": name,
                                     "teamId": self.team_id(team_key) if team_key else None}
            return label_id

    def add_project(self, name: str) -> str:
        with self.lock:
            project = {"id": str(uuid.uuid4()), "name": name}
            self.projects[project["id"]] = project
            return project["id"]

    def issue_by_identifier(self, identifier: str) -> dict[str, Any]:
        """A copy of the issue with its state name/type, team key and url (KeyError if missing)."""
        with self.lock:
            found = self.lookup(identifier)
            if found is None:
                raise KeyError(identifier)
            return self._describe(found)

    def children(self, ref: str) -> list[dict[str, Any]]:
        """Sub-issues of the issue with id or identifier `ref`, oldest first."""
        with self.lock:
            parent = self.lookup(ref)
            if parent is None:
                raise KeyError(ref)
            return [self._describe(i) for i in self.issues.values() if i["parentId"] == parent["id"]]

    def set_state(self, identifier: str, state_name: str) -> None:
        """Move an issue as a person would in the app (bumps `updatedAt`, fires an `update` webhook)."""
        with self.lock:
            issue = self.lookup(identifier)
            if issue is None:
                raise KeyError(identifier)
            state = next(s for s in self.team_states[issue["teamId"]] if s["name"] == state_name)
            self.apply_update(issue, {"stateId": state["id"]}, actor=PERSON)

    def remove_issue(self, identifier: str) -> None:
        """Delete an issue as a person would: Linear trashes it (archived, `trashed`) and fires `remove`."""
        with self.lock:
            issue = self.lookup(identifier)
            if issue is None:
                raise KeyError(identifier)
            issue["trashed"], issue["archivedAt"] = True, now_iso()
            self._touch(issue)
            self._webhooks.issue("remove", issue, actor=PERSON)

    # --- state used by the resolvers (callers hold self.lock) ---------------------------------

    def lookup(self, ref: str) -> dict[str, Any] | None:
        """An issue by UUID or identifier (GROW-12), as Linear's `issue(id:)` accepts both."""
        if ref in self.issues:
            return self.issues[ref]
        return next((i for i in self.issues.values() if i["identifier"] == ref.upper()), None)

    def state(self, state_id: str) -> dict[str, Any] | None:
        return next((s for states in self.team_states.values() for s in states if s["id"] == state_id), None)

    def issue_url(self, issue: dict[str, Any]) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", issue["title"].lower()).strip("-")[:60].rstrip("-")
        return f"{self.url_base}/issue/{issue['identifier']}/{slug}"

    def insert_issue(self, fields: dict[str, Any]) -> dict[str, Any]:
        team = self.teams[fields["teamId"]]
        self._numbers[team["id"]] += 1
        number = self._numbers[team["id"]]
        default = next(s for s in self.team_states[team["id"]] if s["name"] == NEW_ISSUE_STATE)
        now = now_iso()
        issue = {"id": fields.get("id") or str(uuid.uuid4()), "identifier": f"{team['key']}-{number}",
                 "number": number, "title": fields["title"].strip(), "description": fields.get("description"),
                 "priority": fields.get("priority") or 0, "teamId": team["id"], "stateId": default["id"],
                 "parentId": fields.get("parentId"), "assigneeId": fields.get("assigneeId"),
                 "estimate": fields.get("estimate"), "dueDate": fields.get("dueDate"),
                 "labelIds": list(dict.fromkeys(fields.get("labelIds") or [])),
                 "projectId": fields.get("projectId"), "createdAt": now, "updatedAt": now,
                 "completedAt": None, "canceledAt": None, "startedAt": None, "archivedAt": None,
                 "trashed": False}
        self.issues[issue["id"]] = issue
        if fields.get("stateId"):
            self.apply_update(issue, {"stateId": fields["stateId"]}, notify=False)
        self._webhooks.issue("create", issue)
        return issue

    def apply_update(self, issue: dict[str, Any], fields: dict[str, Any], *,
                     actor: dict[str, Any] | None = None, notify: bool = True) -> dict[str, Any]:
        """Apply an IssueUpdateInput; `updatedAt` moves on, and an `update` webhook names what changed."""
        before = copy.deepcopy(issue)
        for key in ("title", "description", "priority", "parentId", "projectId", "assigneeId", "estimate",
                    "dueDate"):
            if key in fields:
                issue[key] = fields[key].strip() if key == "title" else fields[key]
        labels = list(fields["labelIds"]) if fields.get("labelIds") is not None else list(issue["labelIds"])
        labels += [x for x in fields.get("addedLabelIds") or () if x not in labels]
        issue["labelIds"] = [x for x in labels if x not in set(fields.get("removedLabelIds") or ())]
        if fields.get("stateId"):
            kind = self.state(fields["stateId"])["type"]  # type: ignore[index]
            issue["stateId"] = fields["stateId"]
            now = now_iso()
            issue["completedAt"] = (issue["completedAt"] or now) if kind == "completed" else None
            issue["canceledAt"] = (issue["canceledAt"] or now) if kind == "canceled" else None
            issue["startedAt"] = issue["startedAt"] or (now if kind == "started" else None)
        self._touch(issue)
        if notify:
            self._webhooks.issue("update", issue, before, actor)
        return issue

    @staticmethod
    def _touch(issue: dict[str, Any]) -> None:
        """Move `updatedAt` forward, strictly (two writes within a millisecond still differ)."""
        previous = datetime.fromisoformat(issue["updatedAt"].replace("Z", "+00:00"))
        moment = max(datetime.now(timezone.utc), previous + timedelta(milliseconds=1))
        issue["updatedAt"] = iso(moment)

    def upsert_attachment(self, fields: dict[str, Any]) -> dict[str, Any]:
        """attachmentCreate: the same url on the same issue updates the existing attachment."""
        now = now_iso()
        found = next((a for a in self.attachments.values()
                      if a["issueId"] == fields["issueId"] and a["url"] == fields["url"]), None)
        if found is None:
            found = {"id": str(uuid.uuid4()), "issueId": fields["issueId"], "url": fields["url"],
                     "subtitle": None, "metadata": {}, "createdAt": now, "archivedAt": None}
            self.attachments[found["id"]] = found
        found.update({k: v for k, v in fields.items() if k in ("title", "subtitle")})
        found["metadata"] = fields.get("metadata") or found["metadata"]
        found["updatedAt"] = now
        return found

    def _add_team(self, key: str, team_name: str) -> None:
        team_id = stable_id("team", key)
        self.teams[team_id] = {"id": team_id, "key": key, "name": team_name, "private": False}
        self.team_states[team_id] = [
            {"id": stable_id("state", key, name), "name": name, "type": kind, "position": float(pos),
             "color": "#95a2b3", "teamId": team_id, "description": None}
            for pos, (name, kind) in enumerate(DEFAULT_STATES)]

    def _describe(self, issue: dict[str, Any]) -> dict[str, Any]:
        state = self.state(issue["stateId"]) or {}
        parent = self.issues.get(issue["parentId"] or "")
        return {**copy.deepcopy(issue), "state": state.get("name"), "stateType": state.get("type"),
                "team": self.teams[issue["teamId"]]["key"], "url": self.issue_url(issue),
                "parent": parent["identifier"] if parent else None}
