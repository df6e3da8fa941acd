"""The JIRA sandbox's issue endpoints: create (one or in bulk), read, edit, delete, transition, comment.

Bodies are checked by fields.py (all of a body's field errors in one 400, as JIRA answers) and
applied by the state, which fires the webhooks.
"""

from __future__ import annotations

from typing import Any

from syncd.sandbox.jira.catalog import TRANSITIONS
from syncd.sandbox.jira.endpoint import Call, Reply
from syncd.sandbox.jira.fields import (
    NOT_SETTABLE,
    FieldError,
    check_comment_body,
    validate_create,
    validate_edit,
)
from syncd.sandbox.jira.render import field_selector
from syncd.sandbox.jira.wire import ApiError, count_param

BULK_LIMIT = 50


def _created(call: Call, issue: dict[str, Any]) -> dict[str, Any]:
    return {"id": issue["id"], "key": issue["key"], "self": call.render.url(f"issue/{issue['id']}")}


def create_issue(call: Call) -> Reply:
    patch = validate_create(call.body, call.sb.context(call.version))
    return 201, _created(call, call.sb.create(patch, call.user or ""))


def create_issues(call: Call) -> Reply:
    updates = call.body.get("issueUpdates") if isinstance(call.body, dict) else None
    if not isinstance(updates, list) or not updates:
        raise ApiError(400, ["Nothing to create: 'issueUpdates' must be a non-empty list."])
    if len(updates) > BULK_LIMIT:
        raise ApiError(400, [f"The number of issues in the request exceeds the limit of {BULK_LIMIT}."])
    issues, errors = [], []
    for number, body in enumerate(updates):
        try:
            patch = validate_create(body, call.sb.context(call.version))
        except ApiError as exc:
            errors.append({"status": 400, "elementErrors": exc.body(), "failedElementNumber": number})
            continue
        issues.append(_created(call, call.sb.create(patch, call.user or "")))
    return (201 if issues else 400), {"issues": issues, "errors": errors}


def get_issue(call: Call) -> Reply:
    wanted = field_selector(call.params("fields"), "*all")
    expand = frozenset(x.strip() for x in (call.param("expand") or "").split(","))
    return 200, call.sb.render_issue(call.render, call.issue(), wanted, expand)


def edit_issue(call: Call) -> Reply:
    issue = call.issue()
    if call.body is None:
        raise ApiError(400, ["No content to map due to end-of-input"])
    call.sb.edit(issue, validate_edit(call.body, issue, call.sb.context(call.version)), call.user or "")
    if (call.param("returnIssue") or "").lower() == "true":
        return 200, call.sb.render_issue(call.render, issue, field_selector([], "*all"))
    return 204, None


def delete_issue(call: Call) -> Reply:
    call.sb.delete(call.issue(), (call.param("deleteSubtasks") or "").lower() == "true", call.user)
    return 204, None


def get_transitions(call: Call) -> Reply:
    issue, only = call.issue(), call.param("transitionId")
    ids = [t for t, status in TRANSITIONS.items() if status != issue["status"] and only in (None, t)]
    return 200, {"expand": "transitions", "transitions": [call.render.transition(t) for t in ids]}


def do_transition(call: Call) -> Reply:
    issue, body = call.issue(), call.body if isinstance(call.body, dict) else {}
    ref = (body.get("transition") or {}).get("id") if isinstance(body.get("transition"), dict) else None
    if ref is None:
        raise ApiError(400, ["Missing 'transition' identifier"])
    target = TRANSITIONS.get(str(ref))
    if target is None or target == issue["status"]:
        raise ApiError(400, [f"Transition id '{ref}' is not valid for this issue."])
    extra = {k: body[k] for k in ("fields", "update") if body.get(k)}
    patch = validate_edit(extra, issue, call.sb.context(call.version)) if extra else {"comments": []}
    screenless = (set(patch) - {"custom", "comments"}) | set(patch.get("custom", {}))
    if screenless:  # the sandbox's transitions have no screen: only a comment may ride along
        raise ApiError(400, [], {f: NOT_SETTABLE.format(f) for f in sorted(screenless)})
    call.sb.apply_status(issue, target, user=call.user)
    for comment in patch["comments"]:
        call.sb.add_comment(issue, comment, call.user or "")
    return 204, None


# --- comments ----------------------------------------------------------------------------------

def get_comments(call: Call) -> Reply:
    issue = call.issue()
    start = count_param(call.param("startAt"), "startAt", 0)
    size = count_param(call.param("maxResults"), "maxResults", 5000)
    comments = [call.render.comment(issue, c) for c in issue["comments"]]
    return 200, {"comments": comments[start:start + size], "maxResults": size, "total": len(comments),
                 "startAt": start}


def add_comment(call: Call) -> Reply:
    issue = call.issue()
    try:
        given = call.body.get("body") if isinstance(call.body, dict) else None
        body = check_comment_body(given, call.version)
    except FieldError as exc:
        raise ApiError(400, [], {"comment": str(exc)}) from None
    return 201, call.render.comment(issue, call.sb.add_comment(issue, body, call.user or ""))
