"""How the Asana sandbox renders its records: compact references, tasks, custom fields, `opt_fields`.

Pure functions of the state (callers hold the lock): the endpoints answer with them and nothing
here changes anything.
"""

from __future__ import annotations

from typing import Any

from syncd.sandbox.asana.state import AsanaState


def compact(kind: str, gid: str | None, name: str | None = None) -> dict[str, Any] | None:
    """A compact record (`{gid, resource_type, name?}`), as Asana nests references; None for no gid."""
    return None if gid is None else {"gid": gid, "resource_type": kind, **({"name": name} if name else {})}


def task_json(sb: AsanaState, task: dict[str, Any], opt_in: bool = False) -> dict[str, Any]:
    """The full task record (with opt-in fields when `opt_in`)."""
    parent = sb.tasks.get(task["parent"]) if task["parent"] else None
    out: dict[str, Any] = {
        "gid": task["gid"], "resource_type": "task", "resource_subtype": task["resource_subtype"],
        "name": task["name"], "notes": task["notes"], "completed": task["completed"],
        "completed_at": task["completed_at"], "created_at": task["created_at"],
        "modified_at": task["modified_at"], "due_on": task.get("due_on"), "due_at": task.get("due_at"),
        "parent": compact("task", task["parent"], parent["name"] if parent else None),
        "projects": [compact("project", m["project"], sb.projects[m["project"]]["name"])
                     for m in task["memberships"]],
        "memberships": [{"project": compact("project", m["project"], sb.projects[m["project"]]["name"]),
                         "section": compact("section", m["section"],
                                            sb.sections.get(m["section"], {}).get("name"))}
                        for m in task["memberships"]],
        "workspace": compact("workspace", sb.workspace_gid, sb.workspace["name"]),
        "custom_fields": [_custom_value(sb, gid, value) for gid, value in task["custom_fields"].items()],
        "permalink_url": sb.permalink(task),
    }
    if sb.external_allowed and (task["external"] or opt_in):
        out["external"] = task["external"]
    if opt_in:
        out["html_notes"] = "<body>" + _escape(task["notes"]) + "</body>"
        out["num_subtasks"] = sum(1 for t in sb.tasks.values() if t["parent"] == task["gid"])
    return out


def _custom_value(sb: AsanaState, gid: str, value: Any) -> dict[str, Any]:
    field = sb.custom_fields[gid]
    out = {"gid": gid, "resource_type": "custom_field", "name": field["name"],
           "resource_subtype": field["resource_subtype"]}
    if field["resource_subtype"] == "enum":
        option = next((o for o in field["enum_options"] if o["gid"] == value), None)
        out["enum_value"] = {**option, "resource_type": "enum_option"} if option else None
        out["display_value"] = option["name"] if option else None
    else:
        out["text_value"] = value
        out["display_value"] = value
    return out


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def select(record: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """Asana's `opt_fields`: the gid plus exactly the (dotted) fields asked for."""
    out = {"gid": record["gid"]} if "gid" in record else {}
    groups: dict[str, list[str]] = {}
    for field in fields:
        head, _, rest = field.partition(".")
        groups.setdefault(head, [])
        if rest:
            groups[head].append(rest)
    for head, rests in groups.items():
        if head not in record:
            continue
        value = record[head]
        if rests and isinstance(value, dict):
            value = select(value, rests)
        elif rests and isinstance(value, list):
            value = [select(v, rests) if isinstance(v, dict) else v for v in value]
        out[head] = value
    return out
