"""The JIRA sandbox's remote link endpoints: an issue's links out, found by id or by `globalId`.

`POST remotelink` with a `globalId` that the issue already has updates that link in place (200)
instead of adding another (201): syncd relies on it to link each issue to its ticket once.
"""

from __future__ import annotations

from typing import Any

from syncd.sandbox.jira.endpoint import Call, Reply
from syncd.sandbox.jira.wire import ApiError


def _link_json(call: Call, issue: dict[str, Any], link: dict[str, Any]) -> dict[str, Any]:
    out = {"id": link["id"], "self": call.render.url(f"issue/{issue['key']}/remotelink/{link['id']}")}
    out.update({k: link[k] for k in ("globalId", "application", "relationship", "object") if k in link})
    return out


def _find_link(call: Call, issue: dict[str, Any]) -> dict[str, Any]:
    found = (lk for lk in issue["remotelinks"] if str(lk["id"]) == call.path("link"))
    link: dict[str, Any] | None = next(found, None)
    if link is None:
        raise ApiError(404, ["No remote link with the given id exists for this issue."])
    return link


def _check_link(body: Any) -> dict[str, Any]:
    obj = body.get("object") if isinstance(body, dict) else None
    if not isinstance(obj, dict):
        raise ApiError(400, [], {"object": "'object' is required."})
    for key in ("title", "url"):
        if not isinstance(obj.get(key), str) or not obj[key].strip():
            raise ApiError(400, [], {key: f"'{key}' is required."})
    if len(str(body.get("globalId") or "")) > 255:
        raise ApiError(400, [], {"globalId": "The global ID must not be longer than 255 characters."})
    return {k: body[k] for k in ("globalId", "application", "relationship", "object")
            if body.get(k) is not None}


def get_links(call: Call) -> Reply:
    issue, global_id = call.issue(), call.param("globalId")
    if global_id is not None:
        link = next((lk for lk in issue["remotelinks"] if lk.get("globalId") == global_id), None)
        if link is None:
            raise ApiError(404, ["No remote link with the given globalId exists for this issue."])
        return 200, _link_json(call, issue, link)
    return 200, [_link_json(call, issue, lk) for lk in issue["remotelinks"]]


def upsert_link(call: Call) -> Reply:
    """POST remotelink: a link with an existing `globalId` is updated in place (200), else created (201)."""
    issue, data = call.issue(), _check_link(call.body)
    existing = next((lk for lk in issue["remotelinks"]
                     if data.get("globalId") and lk.get("globalId") == data["globalId"]), None)
    if existing is not None:
        link_id = existing["id"]
        existing.clear()
        existing.update(id=link_id, **data)
        return 200, {"id": existing["id"], "self": _link_json(call, issue, existing)["self"]}
    link = {"id": call.sb.next_id("link"), **data}
    issue["remotelinks"].append(link)
    return 201, {"id": link["id"], "self": _link_json(call, issue, link)["self"]}


def get_link(call: Call) -> Reply:
    issue = call.issue()
    return 200, _link_json(call, issue, _find_link(call, issue))


def put_link(call: Call) -> Reply:
    issue = call.issue()
    link, data = _find_link(call, issue), _check_link(call.body)
    link_id = link["id"]
    link.clear()
    link.update(id=link_id, **data)
    return 204, None


def delete_link(call: Call) -> Reply:
    issue = call.issue()
    issue["remotelinks"].remove(_find_link(call, issue))
    return 204, None
