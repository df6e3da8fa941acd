"""The Asana sandbox's REST endpoints for the workspace and its tasks, answered as Asana answers them.

Users, workspaces, projects and sections are read-only; tasks and subtasks are listed (paged
by `limit`/`offset`, filtered by `completed_since` and `modified_since`), created, read,
updated, deleted and added to projects. Every handler takes a `Call` (endpoint.py), raises
`ApiError` for a refusal and returns `(status, body)`; records are rendered by render.py.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from starlette.routing import Route

from syncd.sandbox._common import tokens
from syncd.sandbox.asana.endpoint import PREFIX, Call, Handler, Reply, endpoint
from syncd.sandbox.asana.render import compact, select, task_json
from syncd.sandbox.asana.state import AsanaState
from syncd.sandbox.asana.wire import ApiError


def routes(sb: AsanaState) -> list[Route]:
    """The routes of these endpoints; a writing one names its operation, whose body schema applies."""
    def route(path: str, method: str, handler: Handler, spec_path: str | None = None) -> Route:
        return Route(PREFIX + path, endpoint(sb, handler, method, spec_path), methods=[method])

    return [
        route("/users/me", "GET", _me),
        route("/workspaces/{workspace_gid}", "GET", _workspace),
        route("/projects/{project_gid}", "GET", _project),
        route("/projects/{project_gid}/tasks", "GET", _project_tasks),
        route("/sections/{section_gid}", "GET", _section),
        route("/tasks", "GET", _list_tasks),
        route("/tasks", "POST", _create_task, "/tasks"),
        route("/tasks/{task_gid}", "GET", _get_task),
        route("/tasks/{task_gid}", "PUT", _update_task, "/tasks/{task_gid}"),
        route("/tasks/{task_gid}", "DELETE", _delete_task),
        route("/tasks/{task_gid}/subtasks", "GET", _list_subtasks),
        route("/tasks/{task_gid}/subtasks", "POST", _create_subtask, "/tasks/{task_gid}/subtasks"),
        route("/tasks/{task_gid}/addProject", "POST", _add_project, "/tasks/{task_gid}/addProject"),
    ]


# --- answers ---------------------------------------------------------------------------------

def _one(call: Call, record: dict[str, Any], status: int = 200) -> Reply:
    fields = call.opt_fields()
    return status, {"data": select(record, fields) if fields else record}


def _task_reply(call: Call, task: dict[str, Any], status: int = 200) -> Reply:
    return _one(call, task_json(call.sb, task, opt_in=call.opt_fields() is not None), status)


def _task_list(call: Call, tasks: list[dict[str, Any]]) -> Reply:
    """Compact records (or `opt_fields`), paged by `limit`/`offset` as Asana pages."""
    fields = call.opt_fields()
    rows = [select(task_json(call.sb, t, opt_in=True), fields) if fields else
            {"gid": t["gid"], "name": t["name"], "resource_type": "task",
             "resource_subtype": t["resource_subtype"]}
            for t in tasks]
    return 200, _page(call, rows)


def _page(call: Call, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Asana's offset paging: `next_page.offset` is an opaque token of the path and the next start."""
    raw_limit, offset = call.param("limit"), call.param("offset")
    if raw_limit is None:
        if offset is not None:
            raise ApiError(400, "offset: Can only be used together with limit")
        return {"data": rows}
    try:
        limit = int(raw_limit)
    except ValueError:
        raise ApiError(400, f"limit: Not a number: {raw_limit}") from None
    if not 1 <= limit <= 100:
        raise ApiError(400, "limit: Must be between 1 and 100")
    path = call.request.url.path.removeprefix(PREFIX)
    start = _decode_offset(offset, path) if offset else 0
    end = start + limit
    next_page = None
    if end < len(rows):
        token = tokens.encode(json.dumps({"p": path, "i": end}).encode())
        query = [(k, v) for k, v in call.request.query_params.multi_items() if k != "offset"]
        query.append(("offset", token))
        rel = f"{path}?{urlencode(query)}"
        next_page = {"offset": token, "path": rel, "uri": f"{call.request.base_url}api/1.0{rel}"}
    return {"data": rows[start:end], "next_page": next_page}


def _decode_offset(token: str, path: str) -> int:
    try:
        decoded = json.loads(tokens.decode(token))
        if decoded["p"] == path and isinstance(decoded["i"], int) and decoded["i"] >= 0:
            return decoded["i"]
    except (ValueError, KeyError, TypeError):
        pass
    raise ApiError(400, "offset: Your pagination token is invalid")


# --- handlers --------------------------------------------------------------------------------

def _me(call: Call) -> Reply:
    sb = call.sb
    return _one(call, {**sb.user, "resource_type": "user",
                       "workspaces": [compact("workspace", sb.workspace_gid, sb.workspace["name"])]})


def _workspace(call: Call) -> Reply:
    if call.path("workspace_gid") != call.sb.workspace_gid:
        raise ApiError(404, f"Unknown object: {call.path('workspace_gid')}")
    return _one(call, {**call.sb.workspace, "resource_type": "workspace"})


def _project_record(call: Call) -> dict[str, Any]:
    project = call.sb.projects.get(call.path("project_gid"))
    if project is None:
        raise ApiError(404, f"Unknown object: {call.path('project_gid')}")
    return project


def _project(call: Call) -> Reply:
    sb, project = call.sb, _project_record(call)
    return _one(call, {**project, "resource_type": "project",
                       "workspace": compact("workspace", sb.workspace_gid, sb.workspace["name"]),
                       "permalink_url": f"{sb.app_url}/0/{project['gid']}/list"})


def _section(call: Call) -> Reply:
    sb, section = call.sb, call.sb.sections.get(call.path("section_gid"))
    if section is None:
        raise ApiError(404, f"Unknown object: {call.path('section_gid')}")
    project = sb.projects[section["project"]]
    return _one(call, {**section, "resource_type": "section",
                       "project": compact("project", project["gid"], project["name"])})


def _in_project(call: Call, project: str, section: str | None = None) -> list[dict[str, Any]]:
    since = call.param("completed_since")
    return [t for t in call.sb.tasks.values()
            if any(m["project"] == project and (section is None or m["section"] == section)
                   for m in t["memberships"])
            and (since is None or not t["completed"]
                 or (since != "now" and (t["completed_at"] or "") >= since))]


def _project_tasks(call: Call) -> Reply:
    return _task_list(call, _in_project(call, _project_record(call)["gid"]))


def _list_tasks(call: Call) -> Reply:
    project, section = call.param("project"), call.param("section")
    if section is not None:
        found = call.sb.sections.get(section)
        if found is None:
            raise ApiError(404, f"Unknown object: {section}")
        return _task_list(call, _in_project(call, found["project"], section))
    if project is None:
        raise ApiError(400, "workspace: Missing input")
    if project not in call.sb.projects:
        raise ApiError(404, f"Unknown object: {project}")
    tasks = _in_project(call, project)
    modified = _instant(call.param("modified_since"), "modified_since")
    return _task_list(call, [t for t in tasks
                             if modified is None or _moment(t["modified_at"], "") >= modified])


def _instant(value: str | None, name: str) -> datetime | None:
    """The parameter `name`'s date-time (see `_moment`), None when it is absent."""
    return None if value is None else _moment(value, name)


def _moment(value: str, name: str) -> datetime:
    """An ISO 8601 date-time as an aware datetime (Asana accepts any offset); 400 when malformed."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, f"{name}: Not a valid date-time: {value}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _create_task(call: Call) -> Reply:
    return _task_reply(call, call.sb.create_task(call.data), 201)


def _get_task(call: Call) -> Reply:
    return _task_reply(call, call.task())


def _update_task(call: Call) -> Reply:
    task = call.task()
    call.sb.apply(task, call.data)
    return _task_reply(call, task)


def _delete_task(call: Call) -> Reply:
    call.sb.delete(call.task()["gid"])
    return 200, {"data": {}}


def _list_subtasks(call: Call) -> Reply:
    parent = call.task()["gid"]
    return _task_list(call, [t for t in call.sb.tasks.values() if t["parent"] == parent])


def _create_subtask(call: Call) -> Reply:
    return _task_reply(call, call.sb.create_task(call.data, parent=call.task()["gid"]), 201)


def _add_project(call: Call) -> Reply:
    call.sb.add_to_project(call.task(), call.data["project"], call.data.get("section"))
    return 200, {"data": {}}
