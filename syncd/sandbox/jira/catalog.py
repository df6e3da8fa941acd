"""The JIRA sandbox's fixed instance configuration, error type, ADF helpers and JSON renderers.

One instance-wide configuration, as a freshly made JIRA Cloud "Scrum" project has it: issue
types Epic/Task/Sub-task/Story/Bug, a three-status workflow with global transitions, the five
default priorities and a handful of custom fields. Ids follow JIRA Cloud's usual numbering.
Each project also has the components a growth team would set up (`default_components`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

ISSUE_TYPES: dict[str, dict[str, Any]] = {  # name -> facts
    "Epic": {"id": "10000", "subtask": False, "hierarchyLevel": 1, "description": "A big user story."},
    "Task": {"id": "10001", "subtask": False, "hierarchyLevel": 0, "description": "A small, distinct piece of work."},
    "Sub-task": {"id": "10002", "subtask": True, "hierarchyLevel": -1,
                 "description": "A small piece of work that's part of a larger task."},
    "Story": {"id": "10003", "subtask": False, "hierarchyLevel": 0,
              "description": "Functionality or a feature expressed as a user goal."},
    "Bug": {"id": "10004", "subtask": False, "hierarchyLevel": 0, "description": "A problem or error."},
}
CATEGORIES: dict[str, dict[str, Any]] = {  # category key -> facts
    "new": {"id": 2, "name": "To Do", "colorName": "blue-gray"},
    "indeterminate": {"id": 4, "name": "In Progress", "colorName": "yellow"},
    "done": {"id": 3, "name": "Done", "colorName": "green"},
}
STATUSES: dict[str, dict[str, str]] = {  # status name -> facts
    "To Do": {"id": "10000", "category": "new"},
    "In Progress": {"id": "3", "category": "indeterminate"},
    "Done": {"id": "10001", "category": "done"},
}
TRANSITIONS: dict[str, str] = {"11": "To Do", "21": "In Progress", "31": "Done"}  # id -> target status
PRIORITIES: dict[str, str] = {"Highest": "1", "High": "2", "Medium": "3", "Low": "4", "Lowest": "5"}
DEFAULT_PRIORITY = "Medium"
RESOLUTION_DONE = {"id": "10000", "name": "Done", "description": "Work has been completed on this issue."}
# A new JIRA Cloud site's resolutions (GET resolution), by name; "Done" is what a done transition sets.
RESOLUTIONS: dict[str, dict[str, str]] = {
    "Done": RESOLUTION_DONE,
    "Won't Do": {"id": "10001", "name": "Won't Do", "description": "This issue won't be actioned."},
    "Duplicate": {"id": "10002", "name": "Duplicate",
                  "description": "The problem is a duplicate of an existing issue."},
    "Cannot Reproduce": {"id": "10003", "name": "Cannot Reproduce",
                         "description": "All attempts at reproducing this issue failed, or not enough information was "
                                        "available to reproduce the issue."},
}

# Custom field kinds: "number" (float), "sprint" (sprint id), "date" (yyyy-MM-dd).
CUSTOM_FIELDS: dict[str, dict[str, str]] = {
    "customfield_10015": {"name": "Start date", "kind": "date",
                          "custom": "com.atlassian.jira.plugin.system.customfieldtypes:datepicker"},
    "customfield_10016": {"name": "Story Points", "kind": "number",
                          "custom": "com.atlassian.jira.plugin.system.customfieldtypes:float"},
    "customfield_10020": {"name": "Sprint", "kind": "sprint", "custom": "com.pyxis.greenhopper.jira:gh-sprint"},
}
# The components every sandbox project starts with (a growth team's areas of work).
COMPONENT_NAMES = ("Acquisition", "Conversion", "Data Quality", "Engagement", "Performance", "Retention",
                   "Revenue")

# System fields: id -> (name, schema type, clause names, settable on create/edit, navigable).
SYSTEM_FIELDS: dict[str, tuple[str, str, tuple[str, ...], bool, bool]] = {
    "summary": ("Summary", "string", ("summary",), True, True),
    "description": ("Description", "string", ("description",), True, True),
    "issuetype": ("Issue Type", "issuetype", ("issuetype", "type"), True, True),
    "project": ("Project", "project", ("project",), True, True),
    "priority": ("Priority", "priority", ("priority",), True, True),
    "labels": ("Labels", "array", ("labels",), True, True),
    "components": ("Components", "array", ("component",), True, True),
    "parent": ("Parent", "issuelink", ("parent",), True, True),
    "assignee": ("Assignee", "user", ("assignee",), True, True),
    "reporter": ("Reporter", "user", ("reporter",), True, True),
    "duedate": ("Due date", "date", ("due", "duedate"), True, True),
    "status": ("Status", "status", ("status",), False, True),
    "statusCategory": ("Status Category", "statusCategory", ("statusCategory",), False, False),
    "resolution": ("Resolution", "resolution", ("resolution",), False, True),
    "resolutiondate": ("Resolved", "datetime", ("resolutiondate", "resolved"), False, True),
    "created": ("Created", "datetime", ("created", "createdDate"), False, True),
    "updated": ("Updated", "datetime", ("updated", "updatedDate"), False, True),
    "subtasks": ("Sub-tasks", "array", ("subtasks",), False, True),
    "comment": ("Comment", "comments-page", ("comment",), False, False),
    "issuekey": ("Key", "issuekey", ("id", "issue", "issuekey", "key"), False, False),
}
RENDERED_FIELDS = ("summary", "description", "issuetype", "project", "priority", "labels", "components", "parent",
                   "assignee", "reporter", "duedate", "status", "resolution", "resolutiondate", "created",
                   "updated", "subtasks", "comment", *CUSTOM_FIELDS)
BAD_CREDENTIALS = "Client must be authenticated to access this resource."
Wanted = Callable[[str], bool]  # which field ids to render (the `fields` parameter)
ADF_MESSAGE = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"


class ApiError(Exception):
    """An error answered in JIRA's body shape: `{"errorMessages": [...], "errors": {field: msg}}`."""

    def __init__(self, status: int, messages: list[str] | None = None, errors: dict[str, str] | None = None):
        super().__init__(f"{status}: {messages or ''} {errors or ''}")
        self.status = status
        self.messages = messages or []
        self.errors = errors or {}

    def body(self) -> dict[str, Any]:
        return {"errorMessages": self.messages, "errors": self.errors}


def count_param(raw: Any, name: str, default: int) -> int:
    """A non-negative integer query/body parameter (startAt, maxResults), else JIRA's 400."""
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        value = -1
    if value < 0 or isinstance(raw, bool):
        raise ApiError(400, [f"The value '{raw}' is not valid for the parameter '{name}'."])
    return value


def default_components(project_index: int) -> list[dict[str, str]]:
    """A new project's components; ids are instance-wide in JIRA, so each project gets its own range."""
    base = 10000 + 100 * project_index
    return [{"id": str(base + i), "name": name, "description": f"{name} work"}
            for i, name in enumerate(COMPONENT_NAMES)]


def not_found_issue() -> ApiError:
    return ApiError(404, ["Issue does not exist or you do not have permission to see it."])


def field_list() -> list[dict[str, Any]]:
    """The `GET field` answer: system fields then custom fields, as JIRA Cloud lists them."""
    out = []
    for fid, (name, typ, clauses, settable, navigable) in SYSTEM_FIELDS.items():
        out.append({"id": fid, "key": fid, "name": name, "custom": False, "orderable": settable,
                    "navigable": navigable, "searchable": True, "clauseNames": list(clauses),
                    "schema": {"type": typ, "system": fid}})
    for fid, spec in CUSTOM_FIELDS.items():
        num = int(fid.rsplit("_", 1)[1])
        typ = {"number": "number", "sprint": "array", "date": "date"}[spec["kind"]]
        out.append({"id": fid, "key": fid, "name": spec["name"], "custom": True, "orderable": True,
                    "navigable": True, "searchable": True,
                    "clauseNames": [f"cf[{num}]", spec["name"]],
                    "schema": {"type": typ, "custom": spec["custom"], "customId": num}})
    return out


# --- Atlassian Document Format ---------------------------------------------------------------

def is_adf(value: Any) -> bool:
    """A v3 rich-text value: a `doc` node (version 1) whose nodes all have a type and proper content."""
    return (isinstance(value, dict) and value.get("type") == "doc" and value.get("version") == 1
            and _adf_nodes_ok(value.get("content", [])))


def _adf_nodes_ok(nodes: Any) -> bool:
    if not isinstance(nodes, list):
        return False
    for node in nodes:
        if not isinstance(node, dict) or not isinstance(node.get("type"), str):
            return False
        if node["type"] == "text" and not isinstance(node.get("text"), str):
            return False
        if "content" in node and not _adf_nodes_ok(node["content"]):
            return False
    return True


def adf_to_wiki(doc: dict[str, Any]) -> str:
    """Flatten ADF to wiki markup (what v2 shows for a description written through v3)."""
    return "\n\n".join(_adf_block(node) for node in doc.get("content", []))


def _adf_block(node: dict[str, Any]) -> str:
    kind = node.get("type")
    inner = "".join(_adf_inline(child) for child in node.get("content", []))
    if kind == "heading":
        return f"h{node.get('attrs', {}).get('level', 1)}. {inner}"
    if kind in ("bulletList", "orderedList"):
        mark = "*" if kind == "bulletList" else "#"
        return "\n".join(f"{mark} {_adf_block(item)}" for item in node.get("content", []))
    if kind == "listItem":
        return " ".join(_adf_block(child) for child in node.get("content", []))
    return inner


def _adf_inline(node: dict[str, Any]) -> str:
    if node.get("type") == "text":
        return str(node.get("text", ""))
    if node.get("type") == "hardBreak":
        return "\n"
    return "".join(_adf_inline(child) for child in node.get("content", []))


def wiki_to_adf(text: str) -> dict[str, Any]:
    """Wrap wiki text as ADF paragraphs (what v3 shows for a description written through v2)."""
    paragraphs = []
    for block in text.split("\n\n"):
        content: list[dict[str, Any]] = []
        for i, line in enumerate(block.split("\n")):
            if i:
                content.append({"type": "hardBreak"})
            if line:
                content.append({"type": "text", "text": line})
        paragraphs.append({"type": "paragraph", "content": content})
    return {"type": "doc", "version": 1, "content": paragraphs}


# --- JSON renderers ----------------------------------------------------------------------------

def utc_now() -> datetime:
    """Now, in UTC, at JIRA's millisecond precision."""
    moment = datetime.now(timezone.utc)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def jira_time(moment: datetime | None) -> str | None:
    """JIRA's timestamp format: 2025-01-31T10:00:00.000+0000."""
    if moment is None:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}" + moment.strftime("%z")


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
        return {"self": self.url(f"issuetype/{spec['id']}"), "id": spec["id"], "description": spec["description"],
                "iconUrl": f"{self.base}/images/icons/issuetypes/{name.lower()}.svg", "name": name,
                "subtask": spec["subtask"], "avatarId": 10300 + int(spec["id"]) % 100,
                "hierarchyLevel": spec["hierarchyLevel"]}

    def status(self, name: str) -> dict[str, Any]:
        spec = STATUSES[name]
        cat = CATEGORIES[spec["category"]]
        return {"self": self.url(f"status/{spec['id']}"), "description": "", "iconUrl": f"{self.base}/",
                "name": name, "untranslatedName": name, "id": spec["id"],
                "statusCategory": {"self": self.url(f"statuscategory/{cat['id']}"), "id": cat["id"],
                                   "key": spec["category"], "colorName": cat["colorName"], "name": cat["name"]}}

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
        return [{**self.component(c), "assigneeType": "PROJECT_DEFAULT", "realAssigneeType": "PROJECT_DEFAULT",
                 "isAssigneeTypeValid": False, "project": key, "projectId": int(proj["id"])}
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
            return {"self": self.url(f"user?accountId={account}"), "accountId": account, "accountType": "atlassian",
                    "emailAddress": email, "displayName": display, "active": True, "timeZone": "UTC"}
        user_key = f"JIRAUSER{int(hashlib.sha1(email.encode()).hexdigest()[:5], 16)}"
        return {"self": self.url(f"user?username={name}"), "key": user_key,
                "name": name, "emailAddress": email, "displayName": display, "active": True, "timeZone": "UTC"}

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
                "isGlobal": True, "isInitial": False, "isAvailable": True, "isConditional": False, "isLooped": False}

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
                "created": jira_time(comment["created"]), "updated": jira_time(comment["created"]), "jsdPublic": True}

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
