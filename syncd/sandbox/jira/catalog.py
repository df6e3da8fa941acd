"""The JIRA sandbox's fixed instance configuration: issue types, workflow, priorities, resolutions, fields.

One instance-wide configuration, as a freshly made JIRA Cloud "Scrum" project has it: issue
types Epic/Task/Sub-task/Story/Bug, a three-status workflow with global transitions, the five
default priorities and a handful of custom fields. Ids follow JIRA Cloud's usual numbering.
Each project also has the components a growth team would set up (`default_components`).
"""

from __future__ import annotations

from typing import Any

ISSUE_TYPES: dict[str, dict[str, Any]] = {  # name -> facts
    "Epic": {"id": "10000", "subtask": False, "hierarchyLevel": 1, "description": "A big user story."},
    "Task": {"id": "10001", "subtask": False, "hierarchyLevel": 0,
             "description": "A small, distinct piece of work."},
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
                         "description": "All attempts at reproducing this issue failed, or not enough "
                                        "information was available to reproduce the issue."},
}

# Custom field kinds: "number" (float), "sprint" (sprint id), "date" (yyyy-MM-dd).
CUSTOM_FIELDS: dict[str, dict[str, str]] = {
    "customfield_10015": {"name": "Start date", "kind": "date",
                          "custom": "com.atlassian.jira.plugin.system.customfieldtypes:datepicker"},
    "customfield_10016": {"name": "Story Points", "kind": "number",
                          "custom": "com.atlassian.jira.plugin.system.customfieldtypes:float"},
    "customfield_10020": {"name": "Sprint", "kind": "sprint",
                          "custom": "com.pyxis.greenhopper.jira:gh-sprint"},
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
RENDERED_FIELDS = ("summary", "description", "issuetype", "project", "priority", "labels", "components",
                   "parent", "assignee", "reporter", "duedate", "status", "resolution", "resolutiondate",
                   "created", "updated", "subtasks", "comment", *CUSTOM_FIELDS)


def default_components(project_index: int) -> list[dict[str, str]]:
    """A new project's components; ids are instance-wide in JIRA, so each project gets its own range."""
    base = 10000 + 100 * project_index
    return [{"id": str(base + i), "name": name, "description": f"{name} work"}
            for i, name in enumerate(COMPONENT_NAMES)]


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
