"""The JSON JIRA answers with: issue types, statuses, priorities, projects, users, comments, issues.

A `Renderer` is made per request (its base url and API version shape every `self` link and the
description format); `field_selector` turns the `fields` parameter into the predicate that picks
which of an issue's fields are rendered.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable

from syncd.sandbox.jira.adf import adf_to_wiki, wiki_to_adf
from syncd.sandbox.jira.catalog import (
    CATEGORIES,
    CUSTOM_FIELDS,
    DEFAULT_PRIORITY,
    ISSUE_TYPES,
    PRIORITIES,
    RENDERED_FIELDS,
    RESOLUTION_DONE,
    RESOLUTIONS,
    STATUSES,
    SYSTEM_FIELDS,
    TRANSITIONS,
    field_list,
)
from syncd.sandbox.jira.wire import jira_time

Wanted = Callable[[str], bool]  # which field ids to render (the `fields` parameter)


@dataclass
class Renderer:
    """Turns catalog entries and stored issues into the JSON JIRA answers for one request."""

    base: str  # e.g. http://127.0.0.1:1234
    version: str  # "2" or "3"
    cloud: bool
    projects: dict[str, dict[str, Any]] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"{self.base}/rest/api/{self.version}/{path}"

    def issuetype(self, name: str) -> dict[str, Any]:
        spec = ISSUE_TYPES[name]
        return {"self": self.url(f"issuetype/{spec['id']}"), "id": spec["id"],
                "description": spec["description"],
                "iconUrl": f"{self.base}/images/icons/issuetypes/{name.lower()}.svg", "name": name,
                "subtask": spec["subtask"], "avatarId": 10300 + int(spec["id"]) % 100,
                "hierarchyLevel": spec["hierarchyLevel"]}

    def status(self, name: str) -> dict[str, Any]:
        spec = STATUSES[name]
        cat = CATEGORIES[spec["category"]]
        return {"self": self.url(f"status/{spec['id']}"), "description": "", "iconUrl": f"{self.base}/",
                "name": name, "untranslatedName": name, "id": spec["id"],
                "statusCategory": {"self": self.url(f"statuscategory/{cat['id']}"), "id": cat["id"],
                                   "key": spec["category"], "colorName": cat["colorName"],
                                   "name": cat["name"]}}

    def priority(self, name: str) -> dict[str, Any]:
        pid = PRIORITIES[name]
        return {"self": self.url(f"priority/{pid}"), "statusColor": "#cccccc", "description": name,
                "iconUrl": f"{self.base}/images/icons/priorities/{name.lower()}.svg", "name": name, "id": pid,
                "isDefault": name == DEFAULT_PRIORITY}

    def project(self, key: str, with_types: bool = True) -> dict[str, Any]:
        proj = self.projects[key]
        out: dict[str, Any] = {"expand": "description,lead,issueTypes,url,projectKeys,permissions,insight",
                               "self": self.url(f"project/{proj['id']}"), "id": proj["id"], "key": key,
                               "name": proj["name"], "projectTypeKey": "software", "simplified": False,
                               "style": "classic", "isPrivate": False}
        if with_types:  # the full project, as GET project/{key} answers it
            out["issueTypes"] = [self.issuetype(name) for name in ISSUE_TYPES]
            out["components"] = self.components(key)
        return out

    def components(self, key: str) -> list[dict[str, Any]]:
        """`GET project/{key}/components`: the project's components (ProjectComponent), by name."""
        proj = self.projects[key]
        return [{**self.component(c), "assigneeType": "PROJECT_DEFAULT",
                 "realAssigneeType": "PROJECT_DEFAULT", "isAssigneeTypeValid": False, "project": key,
                 "projectId": int(proj["id"])}
                for c in sorted(proj.get("components", []), key=lambda c: c["name"])]

    def component(self, comp: dict[str, str]) -> dict[str, Any]:
        """The short form an issue's `components` field lists."""
        return {"self": self.url(f"component/{comp['id']}"), "id": comp["id"], "name": comp["name"],
                "description": comp["description"]}

    def issue_components(self, issue: dict[str, Any]) -> list[dict[str, Any]]:
        by_id = {c["id"]: c for c in self.projects[issue["project"]].get("components", [])}
        found = [by_id[cid] for cid in issue.get("components", []) if cid in by_id]
        return [self.component(c) for c in sorted(found, key=lambda c: c["name"])]

    def user(self, email: str) -> dict[str, Any]:
        name = email.split("@", 1)[0]
        display = name.replace(".", " ").title()
        if self.cloud:
            account = "712020:" + hashlib.sha1(email.encode()).hexdigest()[:24]
            return {"self": self.url(f"user?accountId={account}"), "accountId": account,
                    "accountType": "atlassian", "emailAddress": email, "displayName": display, "active": True,
                    "timeZone": "UTC"}
        user_key = f"JIRAUSER{int(hashlib.sha1(email.encode()).hexdigest()[:5], 16)}"
        return {"self": self.url(f"user?username={name}"), "key": user_key, "name": name,
                "emailAddress": email, "displayName": display, "active": True, "timeZone": "UTC"}

    def resolution(self, name: str | None) -> dict[str, Any] | None:
        if name is None:
            return None
        spec = RESOLUTIONS.get(name, RESOLUTION_DONE)
        return {"self": self.url(f"resolution/{spec['id']}"), **spec}

    def description(self, value: Any) -> Any:
        if value is None:
            return None
        if self.version == "3":
            return value if isinstance(value, dict) else wiki_to_adf(value)
        return adf_to_wiki(value) if isinstance(value, dict) else value

    def transition(self, tid: str) -> dict[str, Any]:
        return {"id": tid, "name": TRANSITIONS[tid], "to": self.status(TRANSITIONS[tid]), "hasScreen": False,
                "isGlobal": True, "isInitial": False, "isAvailable": True, "isConditional": False,
                "isLooped": False}

    def issue_ref(self, issue: dict[str, Any]) -> dict[str, Any]:
        """The short form JIRA nests for `parent` and `subtasks`."""
        return {"id": issue["id"], "key": issue["key"], "self": self.url(f"issue/{issue['id']}"),
                "fields": {"summary": issue["summary"], "status": self.status(issue["status"]),
                           "priority": self.priority(issue["priority"]),
                           "issuetype": self.issuetype(issue["issuetype"])}}

    def comment(self, issue: dict[str, Any], comment: dict[str, Any]) -> dict[str, Any]:
        author = self.user(comment["author"])
        return {"self": self.url(f"issue/{issue['id']}/comment/{comment['id']}"), "id": comment["id"],
                "author": author, "updateAuthor": author, "body": self.description(comment["body"]),
                "created": jira_time(comment["created"]), "updated": jira_time(comment["created"]),
                "jsdPublic": True}

    def issue(self, issue: dict[str, Any], wanted: Wanted, subtasks: list[dict[str, Any]],
              parent: dict[str, Any] | None, expand: frozenset[str] = frozenset()) -> dict[str, Any]:
        """Full issue JSON; `wanted(field_id) -> bool` picks the fields (the `fields` parameter)."""
        values = self._field_values(issue, subtasks, parent)
        out: dict[str, Any] = {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": issue["id"], "self": self.url(f"issue/{issue['id']}"), "key": issue["key"],
            "fields": {fid: value for fid, value in values.items() if wanted(fid)},
        }
        if "names" in expand:
            names = {f["id"]: f["name"] for f in field_list()}
            out["names"] = {fid: names[fid] for fid in out["fields"]}
        if "transitions" in expand:
            out["transitions"] = [self.transition(t) for t, s in TRANSITIONS.items() if s != issue["status"]]
        if "changelog" in expand:
            out["changelog"] = {"startAt": 0, "maxResults": 0, "total": 0, "histories": []}
        return out

    def _field_values(self, issue: dict[str, Any], subtasks: list[dict[str, Any]],
                      parent: dict[str, Any] | None) -> dict[str, Any]:
        comments = [self.comment(issue, c) for c in issue["comments"]]
        values: dict[str, Any] = {
            "summary": issue["summary"], "description": self.description(issue["description"]),
            "issuetype": self.issuetype(issue["issuetype"]), "project": self.project(issue["project"], False),
            "priority": self.priority(issue["priority"]), "labels": list(issue["labels"]),
            "components": self.issue_components(issue), "assignee": issue["assignee"],
            "reporter": self.user(issue["reporter"]), "duedate": issue["duedate"],
            "status": self.status(issue["status"]), "resolution": self.resolution(issue["resolution"]),
            "resolutiondate": jira_time(issue["resolutiondate"]), "created": jira_time(issue["created"]),
            "updated": jira_time(issue["updated"]), "subtasks": [self.issue_ref(s) for s in subtasks],
            "comment": {"comments": comments, "self": self.url(f"issue/{issue['id']}/comment"),
                        "maxResults": len(comments), "total": len(comments), "startAt": 0},
        }
        if parent is not None:
            values["parent"] = self.issue_ref(parent)
        for fid, spec in CUSTOM_FIELDS.items():
            value = issue["custom"].get(fid)
            if spec["kind"] == "sprint" and value is not None:
                value = [{"id": value, "name": f"Sprint {value}", "state": "active", "boardId": 1}]
            values[fid] = value
        return values


def field_selector(params: list[str], default: str) -> Wanted:
    """Turn `fields` parameters (comma lists, `*all`, `*navigable`, `-name`) into a predicate."""
    items = [p.strip() for raw in params for p in raw.split(",") if p.strip()] or [default]
    navigable = {f for f, spec in SYSTEM_FIELDS.items() if spec[4]} | set(CUSTOM_FIELDS)
    include: set[str] = set()
    exclude: set[str] = set()
    for item in items:
        if item == "*all":
            include |= set(RENDERED_FIELDS)
        elif item == "*navigable":
            include |= navigable
        elif item.startswith("-"):
            exclude.add(item[1:])
        else:
            include.add(item)
    return lambda fid: fid in include and fid not in exclude
