"""In-process Linear: `POST /graphql`, validated against Linear's published schema.

Every document is parsed and validated with graphql-core against Linear's schema as
vendored in `syncd/sandbox/specs/` (a misspelt field is refused with HTTP 400 GRAPHQL_VALIDATION_FAILED, as Linear
refuses it), then executed by the resolvers in `linear_schema.py`. Authentication and rate
limiting answer the way Linear does: HTTP 400 with `extensions.code` AUTHENTICATION_ERROR or
RATELIMITED (linear/linear#471; Linear's SDK maps both codes). Every document received is kept
in `documents` so a test can assert that all of them validated.

Tests inspect state with `issue_by_identifier`, `children`, `states`, `attachments` and act as a
person would with `set_state` and `remove_issue`. Webhooks (`add_webhook`, `hooks.flush()`,
`hooks.deliveries()`) are in `linear_hooks.py`; they fire for API writes and helpers alike.
"""

from __future__ import annotations

import copy
import json
import re
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from graphql import GraphQLError, execute_sync, get_operation_ast, parse, validate
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from syncd.sandbox._common.base import Sandbox, mark_read_only
from syncd.sandbox._common.hooks import HookDispatcher
from syncd.sandbox.linear.hooks import PERSON, LinearHooks
from syncd.sandbox.linear.schema import Resolvers, load_schema, resolve_field

__all__ = ["LinearSandbox", "DEFAULT_KEY"]
DEFAULT_KEY = "lin_api_sandbox"
# A new Linear team's workflow, in board order: (name, type).
DEFAULT_STATES = (("Backlog", "backlog"), ("Todo", "unstarted"), ("In Progress", "started"),
                  ("In Review", "started"), ("Done", "completed"), ("Canceled", "canceled"),
                  ("Duplicate", "canceled"))
NEW_ISSUE_STATE = "Backlog"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _stable_id(*parts: str) -> str:
    """Stable ids for seeded teams and states, so a config can name them across runs."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "linear-sandbox/" + "/".join(parts)))


def _error(status: int, message: str, code: str, kind: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message, "extensions": {
        "code": code, "type": kind, "userPresentableMessage": message}}]}, status_code=status, headers=headers)


class LinearSandbox(Sandbox):
    """A faithful stand-in for Linear's GraphQL API (teams, states, issues, sub-issues, attachments)."""

    name = "linear"

    def __init__(self, *, api_keys: set[str] | None = None, teams: dict[str, str] | None = None,
                 url_base: str = "https://linear.app/sandbox") -> None:
        super().__init__()
        self.schema = load_schema()
        self.api_keys = set(api_keys) if api_keys is not None else {DEFAULT_KEY}
        self.url_base = url_base.rstrip("/")
        self.viewer = {"id": _stable_id("user", "bot"), "name": "Sandbox Bot", "displayName": "bot",
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
        self._throttle_status, self._throttle_retry_after = 400, None
        self._webhooks = LinearHooks(self)
        self.hooks: HookDispatcher = self._webhooks.dispatcher  # deliveries(), flush() for tests

    def routes(self) -> list[Any]:
        return [Route("/graphql", self._endpoint, methods=["POST"])]

    def stop(self) -> None:
        self.hooks.stop()
        super().stop()

    def add_webhook(self, url: str, secret: str, resource_types: tuple[str, ...] = ("Issue",),
                    team_key: str | None = None) -> str:
        """Register a webhook to `url` signed with `secret` (all public teams, or `team_key`); returns its id."""
        with self.lock:
            return self._webhooks.add(url, secret, resource_types, team_key)

    # --- knobs and helpers for tests (thread-safe) -----------------------------------------

    def rate_limit(self, count: int, *, after: int = 0, status: int = 400, retry_after: float | None = None) -> None:
        """Serve `after` more requests, then answer the next `count` with RATELIMITED."""
        with self.lock:
            self._throttle_skip, self._throttle_left = after, count
            self._throttle_status, self._throttle_retry_after = status, retry_after

    def team_id(self, key: str) -> str:
        with self.lock:
            return next(t["id"] for t in self.teams.values() if t["key"] == key)

    def states(self, team_key: str) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(self.team_states[self.team_id(team_key)])

    def add_label(self, name: str, team_key: str | None = None) -> str:
        with self.lock:
            label = {"id": str(uuid.uuid4()), "name": name, "teamId": self.team_id(team_key) if team_key else None}
            self.labels[label["id"]] = label
            return label["id"]

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
        """Delete an issue as a person would: Linear moves it to the trash (archived, `trashed`), fires `remove`."""
        with self.lock:
            issue = self.lookup(identifier)
            if issue is None:
                raise KeyError(identifier)
            issue["trashed"], issue["archivedAt"] = True, _now()
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
        now = _now()
        issue = {"id": fields.get("id") or str(uuid.uuid4()), "identifier": f"{team['key']}-{number}",
                 "number": number, "title": fields["title"].strip(), "description": fields.get("description"),
                 "priority": fields.get("priority") or 0, "teamId": team["id"], "stateId": default["id"],
                 "parentId": fields.get("parentId"), "assigneeId": fields.get("assigneeId"),
                 "estimate": fields.get("estimate"), "dueDate": fields.get("dueDate"),
                 "labelIds": list(dict.fromkeys(fields.get("labelIds") or [])),
                 "projectId": fields.get("projectId"), "createdAt": now, "updatedAt": now,
                 "completedAt": None, "canceledAt": None, "startedAt": None, "archivedAt": None, "trashed": False}
        self.issues[issue["id"]] = issue
        if fields.get("stateId"):
            self.apply_update(issue, {"stateId": fields["stateId"]}, notify=False)
        self._webhooks.issue("create", issue)
        return issue

    def apply_update(self, issue: dict[str, Any], fields: dict[str, Any], *, actor: dict[str, Any] | None = None,
                     notify: bool = True) -> dict[str, Any]:
        """Apply an IssueUpdateInput; `updatedAt` moves on, and an `update` webhook names what changed."""
        before = copy.deepcopy(issue)
        for key in ("title", "description", "priority", "parentId", "projectId", "assigneeId", "estimate", "dueDate"):
            if key in fields:
                issue[key] = fields[key].strip() if key == "title" else fields[key]
        labels = list(fields["labelIds"]) if fields.get("labelIds") is not None else list(issue["labelIds"])
        labels += [x for x in fields.get("addedLabelIds") or () if x not in labels]
        issue["labelIds"] = [x for x in labels if x not in set(fields.get("removedLabelIds") or ())]
        if fields.get("stateId"):
            kind = self.state(fields["stateId"])["type"]  # type: ignore[index]
            issue["stateId"] = fields["stateId"]
            now = _now()
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
        issue["updatedAt"] = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def upsert_attachment(self, fields: dict[str, Any]) -> dict[str, Any]:
        """attachmentCreate: the same url on the same issue updates the existing attachment."""
        now = _now()
        found = next((a for a in self.attachments.values()
                      if a["issueId"] == fields["issueId"] and a["url"] == fields["url"]), None)
        if found is None:
            found = {"id": str(uuid.uuid4()), "issueId": fields["issueId"], "url": fields["url"], "subtitle": None,
                     "metadata": {}, "createdAt": now, "archivedAt": None}
            self.attachments[found["id"]] = found
        found.update({k: v for k, v in fields.items() if k in ("title", "subtitle")})
        found["metadata"] = fields.get("metadata") or found["metadata"]
        found["updatedAt"] = now
        return found

    def _add_team(self, key: str, team_name: str) -> None:
        team_id = _stable_id("team", key)
        self.teams[team_id] = {"id": team_id, "key": key, "name": team_name, "private": False}
        self.team_states[team_id] = [
            {"id": _stable_id("state", key, name), "name": name, "type": kind, "position": float(pos),
             "color": "#95a2b3", "teamId": team_id, "description": None}
            for pos, (name, kind) in enumerate(DEFAULT_STATES)]

    def _describe(self, issue: dict[str, Any]) -> dict[str, Any]:
        state = self.state(issue["stateId"]) or {}
        parent = self.issues.get(issue["parentId"] or "")
        return {**copy.deepcopy(issue), "state": state.get("name"), "stateType": state.get("type"),
                "team": self.teams[issue["teamId"]]["key"], "url": self.issue_url(issue),
                "parent": parent["identifier"] if parent else None}

    # --- HTTP -----------------------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> JSONResponse:
        auth = request.headers.get("authorization", "")
        bearer = auth.startswith("Bearer ")  # OAuth tokens as Bearer, personal keys bare
        token = auth.removeprefix("Bearer ").strip()
        if token not in self.api_keys or bearer != token.startswith("lin_oauth_"):
            mark_read_only(request)
            return _error(400, "Authentication required, not authenticated", "AUTHENTICATION_ERROR",
                          "authentication error")
        try:
            body = json.loads(await request.body())
            query, variables = body["query"], body.get("variables") or {}
            if not isinstance(query, str) or not isinstance(variables, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            mark_read_only(request)
            return _error(400, "Must provide a JSON body with a query string", "BAD_REQUEST", "invalid input")
        return self._serve(request, query, variables, body.get("operationName"))

    def _serve(self, request: Request, query: str, variables: dict[str, Any], name: str | None) -> JSONResponse:
        try:
            document = parse(query)
        except GraphQLError as exc:
            self._note(query, name, [exc.message])
            mark_read_only(request)
            return _error(400, exc.message, "GRAPHQL_PARSE_FAILED", "graphql error")
        problems = validate(self.schema, document)
        operation = get_operation_ast(document, name)
        self._note(query, name, [p.message for p in problems])
        if problems or operation is None:
            mark_read_only(request)
            message = problems[0].message if problems else "Unknown or ambiguous operation name"
            return _error(400, message, "GRAPHQL_VALIDATION_FAILED", "graphql error")
        if operation.operation.value != "mutation":
            mark_read_only(request)
        if self._throttled():
            # The budget comes back when this knob says (after its refusals), and the headers
            # must not claim otherwise: clients pace themselves by them.
            reset = time.time() + (self._throttle_retry_after or 0.05)
            headers = {"X-RateLimit-Requests-Limit": "5000", "X-RateLimit-Requests-Remaining": "0",
                       "X-RateLimit-Requests-Reset": str(int(reset * 1000))}
            if self._throttle_retry_after is not None:
                headers["Retry-After"] = str(self._throttle_retry_after)
            return _error(self._throttle_status, "Rate limit exceeded", "RATELIMITED", "ratelimited", headers)
        with self.lock:
            result = execute_sync(self.schema, document, root_value=Resolvers(self).root(),
                                  variable_values=variables, operation_name=name, field_resolver=resolve_field)
        payload = result.formatted
        if result.data is None and result.errors and all(e.path is None for e in result.errors):
            for error in payload["errors"]:  # variables that do not fit the schema's input types
                error["extensions"] = {"code": "BAD_USER_INPUT", "type": "invalid input"}
            return JSONResponse(payload, status_code=400)
        return JSONResponse(payload)

    def _note(self, query: str, name: str | None, problems: list[str]) -> None:
        with self.lock:
            self.documents.append({"operation": name, "query": query, "valid": not problems, "errors": problems})

    def _throttled(self) -> bool:
        with self.lock:
            if self._throttle_left <= 0:
                return False
            if self._throttle_skip > 0:
                self._throttle_skip -= 1
                return False
            self._throttle_left -= 1
            return True
