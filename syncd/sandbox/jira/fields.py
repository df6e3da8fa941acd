"""Validation of JIRA create/edit bodies (`fields` + `update`) into a normalized patch.

JIRA answers a bad field with 400 and `errors[field_id]`; it collects every field's error in
one answer, except that a missing/unknown project or issue type stops validation early (the
rest cannot be judged without them). The messages are JIRA's own wording where known.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Callable

from syncd.sandbox.jira.adf import ADF_MESSAGE, is_adf
from syncd.sandbox.jira.catalog import CUSTOM_FIELDS, ISSUE_TYPES, PRIORITIES, SYSTEM_FIELDS
from syncd.sandbox.jira.wire import ApiError

SETTABLE = {fid for fid, spec in SYSTEM_FIELDS.items() if spec[3]} | set(CUSTOM_FIELDS)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
NOT_SETTABLE = "Field '{0}' cannot be set. It is not on the appropriate screen, or unknown."


class FieldError(ValueError):
    """One field's validation message (collected into `errors[field_id]`)."""


@dataclass
class Context:
    """What validation needs from the sandbox: the API version and lookups."""

    version: str
    projects: dict[str, dict[str, Any]]  # key -> {"id", "key", "name", "components"}
    find_issue: Callable[[str], dict[str, Any] | None]  # id or key -> stored issue
    project: str | None = None  # the issue's project, once known (components belong to it)


def validate_create(body: Any, ctx: Context) -> dict[str, Any]:
    """Check a createIssue body; return the patch to store or raise `ApiError` (400)."""
    fields, update = _split_body(body)
    project = _project(fields.get("project"), ctx)
    itype = _issuetype(fields.get("issuetype"))
    head = {k: v for k, v in (("project", project), ("issuetype", itype)) if isinstance(v, FieldError)}
    if head:
        raise ApiError(400, [], {k: str(v) for k, v in head.items()})
    assert isinstance(project, str) and isinstance(itype, str)  # the errors were raised just above
    ctx = replace(ctx, project=project)
    patch, errors = _fields_and_updates(fields, update, ctx, current={}, skip={"project", "issuetype"})
    patch.update(project=project, issuetype=itype)
    if "summary" not in patch and "summary" not in errors:
        errors["summary"] = "You must specify a summary of the issue."
    _check_hierarchy(patch, errors, ctx)
    if errors:
        raise ApiError(400, [], errors)
    return patch


def validate_edit(body: Any, issue: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """Check an editIssue body against the stored issue; return the patch or raise `ApiError`."""
    fields, update = _split_body(body)
    if "project" in fields or "project" in update:
        raise ApiError(400, [], {"project": NOT_SETTABLE.format("project")})
    ctx = replace(ctx, project=issue["project"])
    patch, errors = _fields_and_updates(fields, update, ctx, current=issue, skip={"issuetype"})
    if "issuetype" in fields:
        itype = _issuetype(fields["issuetype"])
        if isinstance(itype, FieldError):
            errors["issuetype"] = str(itype)
        elif ISSUE_TYPES[itype]["subtask"] != ISSUE_TYPES[issue["issuetype"]]["subtask"]:
            errors["issuetype"] = ("Issue type cannot be changed between sub-task and standard "
                                   "issue types here.")
        else:
            patch["issuetype"] = itype
    merged = {"project": issue["project"], "issuetype": issue["issuetype"], "parent": issue["parent"],
              **patch}
    if "parent" in patch or "issuetype" in patch:
        _check_hierarchy(merged, errors, ctx, self_key=issue["key"])
    if errors:
        raise ApiError(400, [], errors)
    return patch


def _split_body(body: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    if not isinstance(body, dict):
        raise ApiError(400, ["Can not deserialize instance of IssueUpdateDetails out of non-object token."])
    fields, update = body.get("fields") or {}, body.get("update") or {}
    if not isinstance(fields, dict) or not isinstance(update, dict):
        raise ApiError(400, ["'fields' and 'update' must be JSON objects."])
    return fields, update


def _fields_and_updates(fields: dict[str, Any], update: dict[str, Any], ctx: Context,
                        current: dict[str, Any], skip: set[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Validate `fields` (set) and `update` (verbs); `current` is the stored issue ({} on create)."""
    patch: dict[str, Any] = {"custom": {}, "comments": []}
    errors: dict[str, str] = {}
    for fid, value in fields.items():
        if fid in skip:
            continue
        if fid not in SETTABLE:
            errors[fid] = NOT_SETTABLE.format(fid)
        elif fid in update:
            errors[fid] = f"Field '{fid}' cannot be set in both 'fields' and 'update'."
        else:
            _store(patch, errors, fid, lambda: _value(fid, value, ctx))
    for fid, ops in update.items():
        if fid == "comment":
            _store(patch, errors, "comment", lambda: _comment_ops(ops, ctx))
        elif fid not in SETTABLE or fid in skip:
            errors[fid] = NOT_SETTABLE.format(fid)
        elif fid == "labels":
            _store(patch, errors, "labels", lambda: _label_ops(ops, current.get("labels", [])))
        elif fid == "components":
            _store(patch, errors, fid, lambda: _component_ops(ops, current.get("components", []), ctx))
        else:
            _store(patch, errors, fid, lambda: _value(fid, _single_set(ops, fid), ctx))
    return patch, errors


def _store(patch: dict[str, Any], errors: dict[str, str], fid: str, compute: Callable[[], Any]) -> None:
    """Put what `compute()` (called right away) gives for `fid` in the patch, or its FieldError in errors."""
    try:
        value = compute()
    except FieldError as exc:
        errors[fid] = str(exc)
        return
    if fid == "comment":
        patch["comments"].extend(value)
    elif fid in CUSTOM_FIELDS:
        patch["custom"][fid] = value
    else:
        patch[fid] = value


def _value(fid: str, value: Any, ctx: Context) -> Any:
    """Validate and normalize one field value."""
    if fid in CUSTOM_FIELDS:
        return _custom(CUSTOM_FIELDS[fid]["kind"], value)
    checker = _CHECKS.get(fid)
    return checker(value, ctx) if checker else value


def _summary(value: Any, _ctx: Context) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FieldError("You must specify a summary of the issue.")
    if "\n" in value or "\r" in value:
        raise FieldError("The summary is invalid because it contains newline characters.")
    if len(value) > 255:
        raise FieldError("Summary must be less than 255 characters.")
    return value


def _description(value: Any, ctx: Context) -> Any:
    if value is None:
        return None
    if ctx.version == "3":
        if not is_adf(value):
            raise FieldError(ADF_MESSAGE)
        return value
    if not isinstance(value, str):
        raise FieldError("Operation value must be a string")
    if len(value) > 32_767:  # JIRA's text-field limit
        raise FieldError("The entered text is too long. It exceeds the allowed limit of 32,767 characters.")
    return value


def _priority(value: Any, _ctx: Context) -> str:
    if not isinstance(value, dict) or not ({"id", "name"} & value.keys()):
        raise FieldError("Could not find valid 'id' or 'name' in priority object.")
    if "id" in value:
        for name, pid in PRIORITIES.items():
            if str(value["id"]) == pid:
                return name
        raise FieldError("The priority selected is invalid.")
    for name in PRIORITIES:
        if str(value["name"]).lower() == name.lower():
            return name
    raise FieldError(f"Priority name '{value['name']}' is not valid")


def _labels(value: Any, _ctx: Context | None = None) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FieldError("data was not an array")
    for label in value:
        _check_label(label)
    return sorted(set(value))  # JIRA keeps labels as a sorted set


def _check_label(label: Any) -> None:
    if not isinstance(label, str) or not label:
        raise FieldError("Label cannot be empty.")
    if any(ch.isspace() for ch in label):
        raise FieldError(f"The label '{label}' contains spaces which is invalid.")
    if len(label) > 255:
        raise FieldError(f"The label '{label[:20]}...' exceeds the maximum length for a single label "
                         "of 255 characters.")


def _components(value: Any, ctx: Context) -> list[str]:
    """Components by `id` or `name`, stored as their ids; each must be one of the project's."""
    if not isinstance(value, list):
        raise FieldError("data was not an array")
    return sorted({_component_id(ref, ctx) for ref in value}, key=int)


def _component_id(ref: Any, ctx: Context) -> str:
    if not isinstance(ref, dict):
        raise FieldError("expected Object")
    if not ({"id", "name"} & ref.keys()):
        raise FieldError("Could not find valid 'id' or 'name' in component object.")
    known = ctx.projects[ctx.project].get("components", []) if ctx.project else []
    if "id" in ref:
        match = next((c for c in known if c["id"] == str(ref["id"])), None)
        if match is None:
            raise FieldError(f"Component with id '{ref['id']}' does not exist.")
    else:
        match = next((c for c in known if c["name"] == ref["name"]), None)
        if match is None:
            raise FieldError(f"Component name '{ref['name']}' is not valid")
    component_id: str = match["id"]
    return component_id


def _parent(value: Any, ctx: Context) -> str | None:
    if value is None:
        return None
    ref = value.get("key") or value.get("id") if isinstance(value, dict) else None
    parent = ctx.find_issue(str(ref)) if ref else None
    if parent is None:
        raise FieldError("Could not find issue by id or key.")
    return str(parent["key"])


def _user(value: Any, _ctx: Context) -> Any:
    if value is not None and not isinstance(value, dict):
        raise FieldError("data was not an object")
    return value


def _date(value: Any, _ctx: Context | None = None) -> str | None:
    if value is not None and (not isinstance(value, str) or not _DATE.match(value)):
        raise FieldError(f"Error parsing date string: {value}")
    return value


def _custom(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise FieldError("Operation value must be a number")
        return value
    if kind == "sprint":
        if isinstance(value, bool) or not isinstance(value, int):
            raise FieldError("Number value expected as the Sprint id.")
        return value
    return _date(value)


_CHECKS: dict[str, Callable[[Any, Context], Any]] = {
    "summary": _summary, "description": _description, "priority": _priority, "labels": _labels,
    "components": _components,
    "parent": _parent, "assignee": _user, "reporter": _user, "duedate": _date,
}


def _ops(ops: Any, fid: str) -> list[tuple[str, Any]]:
    if not isinstance(ops, list) or not all(isinstance(op, dict) and len(op) == 1 for op in ops):
        raise FieldError(f"Operations for '{fid}' must be a list of single-key objects.")
    return [next(iter(op.items())) for op in ops]


def _single_set(ops: Any, fid: str) -> Any:
    pairs = _ops(ops, fid)
    for verb, _value in pairs:
        if verb != "set":
            raise FieldError(f"Could not find operation '{verb}' for field '{fid}'.")
    if len(pairs) != 1:
        raise FieldError(f"Field '{fid}' takes exactly one 'set' operation.")
    return pairs[0][1]


def _label_ops(ops: Any, current: list[str]) -> list[str]:
    labels = set(current)
    for verb, value in _ops(ops, "labels"):
        if verb == "set":
            labels = set(_labels(value))
        elif verb in ("add", "remove"):
            _check_label(value)
            labels = labels | {value} if verb == "add" else labels - {value}
        else:
            raise FieldError(f"Could not find operation '{verb}' for field 'labels'.")
    return sorted(labels)


def _component_ops(ops: Any, current: list[str], ctx: Context) -> list[str]:
    """`update.components`: `set` a list, or `add` / `remove` one component (by id or name)."""
    ids = set(current)
    for verb, value in _ops(ops, "components"):
        if verb == "set":
            ids = set(_components(value, ctx))
        elif verb in ("add", "remove"):
            cid = _component_id(value, ctx)
            ids = ids | {cid} if verb == "add" else ids - {cid}
        else:
            raise FieldError(f"Could not find operation '{verb}' for field 'components'.")
    return sorted(ids, key=int)


def _comment_ops(ops: Any, ctx: Context) -> list[Any]:
    bodies = []
    for verb, value in _ops(ops, "comment"):
        body = value.get("body") if isinstance(value, dict) else None
        if verb != "add" or body is None:
            raise FieldError("Comment operations support only 'add' with a 'body'.")
        bodies.append(check_comment_body(body, ctx.version))
    return bodies


def check_comment_body(body: Any, version: str) -> Any:
    """A comment body: wiki string on v2, ADF on v3; empty is refused."""
    if version == "3":
        if not is_adf(body):
            raise FieldError(ADF_MESSAGE)
        return body
    if not isinstance(body, str) or not body.strip():
        raise FieldError("Comment body can not be empty!")
    return body


def _project(value: Any, ctx: Context) -> str | FieldError:
    ref = (value.get("key") or value.get("id")) if isinstance(value, dict) else None
    for key, proj in ctx.projects.items():
        if ref is not None and str(ref) in (key, proj["id"]):
            return key
    return FieldError("Specify a valid project ID or key")


def _issuetype(value: Any) -> str | FieldError:
    if not isinstance(value, dict) or not ({"id", "name"} & value.keys()):
        return FieldError("Specify an issue type")
    for name, spec in ISSUE_TYPES.items():
        if str(value.get("id")) == spec["id"] or value.get("name") == name:
            return name
    return FieldError("The issue type selected is invalid.")


def _check_hierarchy(patch: dict[str, Any], errors: dict[str, str], ctx: Context, self_key: str = "") -> None:
    """Sub-tasks need a standard parent in the same project; others may only sit under an Epic."""
    if "parent" in errors:
        return
    itype, parent_key = patch["issuetype"], patch.get("parent")
    if ISSUE_TYPES[itype]["subtask"]:
        if not parent_key:
            errors["parent"] = "Issue type is a sub-task but parent issue key or id not specified."
            return
        parent = ctx.find_issue(parent_key)
        assert parent is not None  # _parent resolved it
        if ISSUE_TYPES[parent["issuetype"]]["subtask"]:
            errors["parent"] = "The parent issue is itself a sub-task; sub-tasks cannot have sub-tasks."
        elif parent["project"] != patch["project"]:
            errors["project"] = "Sub-tasks must be created in the same project as the parent."
        return
    if parent_key:
        parent = ctx.find_issue(parent_key)
        assert parent is not None
        if parent["issuetype"] != "Epic" or itype == "Epic" or parent_key == self_key:
            errors["parent"] = "Given parent work item does not belong to appropriate hierarchy."
