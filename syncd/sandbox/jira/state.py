"""The JIRA sandbox's state: projects and issues, how they change, and what JQL and the renderers see of them.

State is plain dicts guarded by `self.lock`. `JiraState` holds it and changes it as JIRA does
(every change fires the webhooks of hooks.py); the HTTP face on top is `JiraSandbox`
(sandbox.py). Tests inspect and act through the helpers below (`issue`, `find`, `count`,
`set_status`, `delete_issue`, `add_webhook`; `hooks.flush()` / `hooks.deliveries()` for webhooks).
"""

from __future__ import annotations

import copy
import time
from datetime import timedelta
from typing import Any, Sequence

from syncd.sandbox._common.base import Sandbox
from syncd.sandbox._common.hooks import HookDispatcher
from syncd.sandbox.jira.catalog import (
    CATEGORIES,
    DEFAULT_PRIORITY,
    ISSUE_TYPES,
    PRIORITIES,
    RESOLUTIONS,
    STATUSES,
    default_components,
)
from syncd.sandbox.jira.fields import Context
from syncd.sandbox.jira.hooks import ISSUE_EVENTS, PERSON, JiraHooks, changes
from syncd.sandbox.jira.render import Renderer, Wanted
from syncd.sandbox.jira.wire import ApiError, utc_now


class JiraState(Sandbox):
    """One JIRA instance's projects and issues and the rules they change by; `JiraSandbox` serves them.

    `deployment` ("Cloud" or "Server") decides serverInfo's `deploymentType` and which search
    endpoint exists; `search_lag` delays an issue's visibility to JQL after creation, as JIRA
    Cloud's index does. `page_limit` caps a search page (JIRA: 100 with fields on Cloud).
    """

    name = "jira"

    def __init__(self, *, deployment: str = "Cloud", users: dict[str, str] | None = None,
                 tokens: set[str] | None = None, projects: Sequence[str] = ("GROWTH",),
                 search_lag: float = 0.0) -> None:
        super().__init__()
        if deployment not in ("Cloud", "Server"):
            raise ValueError(f"deployment must be 'Cloud' or 'Server', not {deployment!r}")
        self.deployment = deployment
        self.users: dict[str, str] = dict(users) if users is not None else {"bot@example.com": "jira-token"}
        self.tokens: set[str] = set(tokens or ())
        self.search_lag = search_lag
        self.page_limit = 100
        self.projects: dict[str, dict[str, Any]] = {
            key: {"id": str(10000 + i), "key": key, "name": key.title(), "components": default_components(i)}
            for i, key in enumerate(projects)}
        self.issues: dict[str, dict[str, Any]] = {}
        self.moved: dict[str, str] = {}  # old key -> the key an issue got when people moved it
        self._numbers = {key: 0 for key in self.projects}
        self._ids = {"issue": 10000, "link": 10000, "comment": 10000}
        self._webhooks = JiraHooks(self)
        self.hooks: HookDispatcher = self._webhooks.dispatcher  # deliveries(), flush() for tests

    @property
    def cloud(self) -> bool:
        return self.deployment == "Cloud"

    def stop(self) -> None:
        self.hooks.stop()
        super().stop()

    # --- helpers for tests (thread-safe) ----------------------------------------------------

    def issue(self, key: str) -> dict[str, Any]:
        """A deep copy of the stored issue (KeyError if missing)."""
        with self.lock:
            return copy.deepcopy(self.issues[key])

    def find(self, label: str | None = None, project: str | None = None,
             parent: str | None = None) -> list[dict[str, Any]]:
        """Stored issues (copies, oldest first) having `label`, in `project`, under `parent`."""
        with self.lock:
            found = [i for i in self.issues.values()
                     if (label is None or label in i["labels"])
                     and (project is None or i["project"] == project)
                     and (parent is None or i["parent"] == parent)]
            return copy.deepcopy(sorted(found, key=lambda i: int(i["id"])))

    def set_status(self, key: str, name: str, resolution: str | None = None, user: str = PERSON) -> None:
        """Move an issue to status `name` as a person in JIRA would (bumps `updated`, fires a webhook).

        A done status takes `resolution` (default "Done"; e.g. "Won't Do" closes it without doing
        it); any other status clears the resolution, as JIRA's workflow post-functions do.
        """
        if name not in STATUSES:
            raise ValueError(f"unknown status {name!r}; known: {sorted(STATUSES)}")
        if resolution is not None and (resolution not in RESOLUTIONS or STATUSES[name]["category"] != "done"):
            raise ValueError(f"resolution {resolution!r} needs a done status and one of "
                             f"{sorted(RESOLUTIONS)}")
        with self.lock:
            self.apply_status(self.issues[key], name, resolution, user)

    def delete_issue(self, key: str, user: str = PERSON) -> None:
        """Delete an issue (and its sub-tasks) as a person would; fires `jira:issue_deleted` for each."""
        with self.lock:
            self.delete(self.issues[key], True, user)

    def move_issue(self, key: str, project: str, user: str = PERSON) -> str:
        """Move an issue (with its sub-tasks) to `project` as a person would; returns its new key.

        As in JIRA, the id stays, the key is the next one in `project`, and the old key still
        finds the issue (REST answers it under its new key); fires `jira:issue_updated` with the
        Key and project changes.
        """
        if project not in self.projects:
            raise ValueError(f"unknown project {project!r}; known: {sorted(self.projects)}")
        with self.lock:
            issue = self.issues[key]
            new_key = self._rekey(issue, project)
            for child in [i for i in self.issues.values() if i["parent"] == key]:
                child["parent"] = new_key
                self._rekey(child, project)
            self._touch(issue)
            self._webhooks.updated(
                issue,
                user,
                [
                    {"field": "Key", "fieldtype": "jira", "fromString": key, "toString": new_key},
                    {
                        "field": "project",
                        "fieldtype": "jira",
                        "fromString": key.split("-")[0],
                        "toString": project,
                    },
                ],
            )
            return new_key

    def _rekey(self, issue: dict[str, Any], project: str) -> str:
        old = issue["key"]
        self._numbers[project] += 1
        issue["key"], issue["project"] = f"{project}-{self._numbers[project]}", project
        self.moved[old] = issue["key"]
        del self.issues[old]
        self.issues[issue["key"]] = issue
        return str(issue["key"])

    def catch_up_search(self) -> None:
        """Let JQL search see every issue now, as JIRA's index does once its lag has passed."""
        with self.lock:
            for issue in self.issues.values():
                issue["indexed_at"] = min(issue["indexed_at"], time.monotonic())

    def add_webhook(self, url: str, secret: str | None = None, events: Sequence[str] = ISSUE_EVENTS) -> str:
        """Register an admin webhook to `url` (signed with `secret`, if given); returns its id."""
        return self._webhooks.add(url, secret, events)

    def count(self, issue_type: str | None = None) -> int:
        """How many issues exist (of `issue_type`, if given)."""
        with self.lock:
            return sum(1 for i in self.issues.values() if issue_type in (None, i["issuetype"]))

    # --- state changes (callers hold self.lock) ---------------------------------------------

    def next_id(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind] - 1

    def lookup(self, ref: str) -> dict[str, Any] | None:
        """An issue by key (any case) or numeric id."""
        ref = str(ref).strip().upper()
        for _ in range(len(self.moved) + 1):  # an old key leads to the new one (moved again: again)
            if ref not in self.moved:
                break
            ref = self.moved[ref]
        if ref in self.issues:
            return self.issues[ref]
        return next((i for i in self.issues.values() if i["id"] == ref), None)

    def context(self, version: str) -> Context:
        return Context(version=version, projects=self.projects, find_issue=self.lookup)

    def create(self, patch: dict[str, Any], reporter: str) -> dict[str, Any]:
        """Store a validated create patch as a new issue; keys count up per project."""
        project = patch["project"]
        self._numbers[project] += 1
        now = utc_now()
        issue: dict[str, Any] = {
            "id": str(self.next_id("issue")), "key": f"{project}-{self._numbers[project]}",
            "project": project, "issuetype": patch["issuetype"], "summary": patch["summary"],
            "description": patch.get("description"), "priority": patch.get("priority", DEFAULT_PRIORITY),
            "labels": patch.get("labels", []), "components": patch.get("components", []),
            "status": "To Do", "resolution": None, "resolutiondate": None, "parent": patch.get("parent"),
            "assignee": patch.get("assignee"), "reporter": reporter, "duedate": patch.get("duedate"),
            "custom": dict(patch["custom"]), "created": now, "updated": now, "comments": [],
            "remotelinks": [], "indexed_at": time.monotonic() + self.search_lag,
        }
        self.issues[issue["key"]] = issue
        for body in patch["comments"]:
            self.add_comment(issue, body, reporter, notify=False)
        self._webhooks.created(issue, reporter)
        return issue

    def edit(self, issue: dict[str, Any], patch: dict[str, Any], user: str) -> None:
        """Apply a validated edit patch; `updated` moves only when something changed."""
        before = copy.deepcopy({k: v for k, v in issue.items() if k != "comments"})
        changed = False
        for fid, value in patch.items():
            if fid in ("custom", "comments"):
                continue
            changed |= issue[fid] != value
            issue[fid] = value
        for fid, value in patch["custom"].items():
            changed |= issue["custom"].get(fid) != value
            issue["custom"][fid] = value
        if changed:
            self._touch(issue)
            self._webhooks.updated(issue, user, changes(before, issue))
        for body in patch["comments"]:
            self.add_comment(issue, body, user)

    def apply_status(self, issue: dict[str, Any], status: str, resolution: str | None = None,
                     user: str | None = None) -> None:
        """Set the status (a done one sets `resolution`, default "Done"), bump `updated`, fire a webhook."""
        before = {"status": issue["status"], "resolution": issue["resolution"]}
        done = STATUSES[status]["category"] == "done"
        issue["status"] = status
        issue["resolution"] = (resolution or "Done") if done else None
        self._touch(issue)
        issue["resolutiondate"] = issue["updated"] if done else None
        items = changes({**issue, **before}, issue)
        self._webhooks.updated(issue, user, items, "issue_resolved" if done and not before["resolution"]
                               else "issue_generic")

    def add_comment(self, issue: dict[str, Any], body: Any, author: str,
                    notify: bool = True) -> dict[str, Any]:
        comment = {"id": str(self.next_id("comment")), "body": body, "author": author, "created": utc_now()}
        issue["comments"].append(comment)
        self._touch(issue)
        if notify:
            self._webhooks.updated(issue, author, [], "issue_commented", comment)
        return comment

    @staticmethod
    def _touch(issue: dict[str, Any]) -> None:
        """Move `updated` forward, strictly (so "changed since" checks never miss an edit)."""
        issue["updated"] = max(utc_now(), issue["updated"] + timedelta(milliseconds=1))

    def delete(self, issue: dict[str, Any], with_subtasks: bool, user: str | None = None) -> None:
        children = [i for i in self.issues.values() if i["parent"] == issue["key"]]
        if any(ISSUE_TYPES[c["issuetype"]]["subtask"] for c in children) and not with_subtasks:
            raise ApiError(400, [f"The issue '{issue['key']}' has subtasks.  You must specify the "
                                 "'deleteSubtasks' parameter to delete this issue with subtasks."])
        for child in children:
            if ISSUE_TYPES[child["issuetype"]]["subtask"]:
                self._webhooks.deleted(child, user)  # rendered while it (and its parent) still exist
                del self.issues[child["key"]]
            else:
                child["parent"] = None
        self._webhooks.deleted(issue, user)
        del self.issues[issue["key"]]

    def subtasks(self, issue: dict[str, Any]) -> list[dict[str, Any]]:
        return self.subtasks_by_parent().get(issue["key"], [])

    def subtasks_by_parent(self) -> dict[str, list[dict[str, Any]]]:
        """Every issue's sub-tasks (oldest first) in one pass: a page of search results renders
        each hit's `subtasks` field from this, instead of one scan of all issues per hit."""
        kids: dict[str, list[dict[str, Any]]] = {}
        for i in self.issues.values():
            if i["parent"] and ISSUE_TYPES[i["issuetype"]]["subtask"]:
                kids.setdefault(i["parent"], []).append(i)
        for children in kids.values():
            children.sort(key=lambda i: int(i["id"]))
        return kids

    # --- search support -------------------------------------------------------------------------

    def known_values(self) -> dict[str, set[str]]:
        """Valid JQL values per field (lower-cased), for JIRA's 'does not exist' errors."""
        keys = {k.lower() for k in self.issues} | {i["id"] for i in self.issues.values()}
        return {
            "project": {k.lower() for k in self.projects} | {p["id"] for p in self.projects.values()},
            "status": {s.lower() for s in STATUSES} | {s["id"] for s in STATUSES.values()},
            "statusCategory": {c for k, v in CATEGORIES.items()
                               for c in (k, v["name"].lower(), str(v["id"]))},
            "issuetype": {n.lower() for n in ISSUE_TYPES} | {t["id"] for t in ISSUE_TYPES.values()},
            "priority": {p.lower() for p in PRIORITIES} | set(PRIORITIES.values()),
            "key": keys, "parent": keys,
        }

    def record(self, issue: dict[str, Any]) -> dict[str, list[Any]]:
        """The values JQL sees for one issue."""
        status, cat = STATUSES[issue["status"]], CATEGORIES[STATUSES[issue["status"]]["category"]]
        parent = self.issues.get(issue["parent"] or "")
        return {
            "project": [issue["project"], self.projects[issue["project"]]["id"]],
            "labels": list(issue["labels"]),
            "key": [issue["key"], issue["id"]], "parent": [parent["key"], parent["id"]] if parent else [],
            "status": [issue["status"], status["id"]],
            "statusCategory": [cat["name"], status["category"], str(cat["id"])],
            "issuetype": [issue["issuetype"], ISSUE_TYPES[issue["issuetype"]]["id"]],
            "priority": [issue["priority"], PRIORITIES[issue["priority"]]], "summary": [issue["summary"]],
            "created": [issue["created"]], "updated": [issue["updated"]],
        }

    def renderer(self, base: str, version: str) -> Renderer:
        return Renderer(base=base, version=version, cloud=self.cloud, projects=self.projects)

    def render_issue(self, render: Renderer, issue: dict[str, Any], wanted: Wanted,
                     expand: frozenset[str] = frozenset(),
                     subtasks: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
        parent = self.issues.get(issue["parent"] or "")
        kids = subtasks.get(issue["key"], []) if subtasks is not None else self.subtasks(issue)
        return render.issue(issue, wanted, kids, parent, expand)
