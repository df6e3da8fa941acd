"""HTTP layer of the Asana sandbox: the REST 1.0 endpoints syncd calls, answered as Asana does.

Every endpoint runs through `_endpoint`: bearer token (401 "Not Authorized"), the per-token
rate limiter (429 + Retry-After; rejected requests still count), the `{"data": {...}}` body
envelope, validation of the body against the operation's schema in Asana's published OpenAPI
document (unknown fields, read-only fields and wrong types are 400s), then the handler under
the sandbox lock. Errors come back as `{"errors": [{"message": ..., "help": ...}]}`.
"""

from __future__ import annotations

import base64
import json
import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from syncd.sandbox.asana.sandbox import ApiError

if TYPE_CHECKING:
    from syncd.sandbox.asana.sandbox import AsanaSandbox

PREFIX = "/api/1.0"
HELP = ("For more information on API status codes and how to handle them, read the docs on errors: "
        "https://developers.asana.com/docs/errors")
RATE_LIMITED = "You've made too many requests and hit a rate limit. Please retry after the given amount of time."
Reply = tuple[int, dict[str, Any]]


@dataclass
class Call:
    """One request as a handler sees it: the sandbox, the request and the body's `data`."""

    sb: "AsanaSandbox"
    request: Request
    data: dict[str, Any]

    def path(self, name: str) -> str:
        return str(self.request.path_params[name])

    def param(self, name: str) -> str | None:
        return self.request.query_params.get(name)

    def opt_fields(self) -> list[str] | None:
        raw = self.param("opt_fields")
        return [f.strip() for f in raw.split(",") if f.strip()] if raw else None

    def task(self, name: str = "task_gid") -> dict[str, Any]:
        found = self.sb.lookup(self.path(name))
        if found is None:
            raise ApiError(404, f"Unknown object: {self.path(name)}")
        return found


Handler = Callable[[Call], Reply]


def build_routes(sb: "AsanaSandbox") -> list[Route]:
    from syncd.sandbox.asana.hooks import build_routes as event_routes

    def route(path: str, method: str, handler: Handler, spec_path: str | None = None) -> Route:
        return Route(PREFIX + path, _endpoint(sb, handler, method, spec_path), methods=[method])

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
        *event_routes(sb, PREFIX),  # /webhooks, /events
        Route("/{rest:path}", _no_route, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
    ]


def _endpoint(sb: "AsanaSandbox", handler: Handler, method: str, spec_path: str | None) -> Any:
    async def endpoint(request: Request) -> JSONResponse:
        raw = await request.body()
        with sb.lock:
            try:
                token = _authenticate(sb, request)
                _count_request(sb, token)
                data = _body_data(sb, raw, method, spec_path) if spec_path else {}
                status, payload = handler(Call(sb, request, data))
            except ApiError as exc:
                headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
                return _errors(exc.status, exc.messages, headers)
        return JSONResponse(payload, status_code=status)

    return endpoint


endpoint = _endpoint  # for the event routes (asana_hooks.py)


async def _no_route(request: Request) -> JSONResponse:
    return _errors(404, ["No matching route for request"])


def _errors(status: int, messages: list[str], headers: dict[str, str] | None = None) -> JSONResponse:
    errors = [{"message": m, "help": HELP} for m in messages]
    if status >= 500:
        errors = [{**e, "phrase": "6 sad squid snuggle softly"} for e in errors]
    return JSONResponse({"errors": errors}, status_code=status, headers=headers)


class RateLimited(ApiError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(429, RATE_LIMITED)
        self.retry_after = retry_after


def _authenticate(sb: "AsanaSandbox", request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or token not in sb.tokens:
        raise ApiError(401, "Not Authorized")
    return token


def _count_request(sb: "AsanaSandbox", token: str) -> None:
    """Fixed window per token; a request over the limit is refused but still counted."""
    if sb.rate_limit is None:
        return
    now = time.monotonic()
    start, count = sb.rate_counts.get(token, (now, 0))
    if now - start >= sb.rate_window:
        start, count = now, 0
    sb.rate_counts[token] = (start, count + 1)
    if count + 1 > sb.rate_limit:
        raise RateLimited(max(1, math.ceil(start + sb.rate_window - now)))


def _body_data(sb: "AsanaSandbox", raw: bytes, method: str, spec_path: str) -> dict[str, Any]:
    """The `data` object of a JSON body, checked against the published request schema."""
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        raise ApiError(400, "Could not parse request data, invalid JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        raise ApiError(400, "data: Missing input")
    problems = sb.spec.problems(method, spec_path, body)
    if problems:
        raise ApiError(400, *(p.removeprefix("data.") for p in problems))
    return body["data"]


# --- rendering -------------------------------------------------------------------------------

def _compact(kind: str, gid: str | None, name: str | None = None) -> dict[str, Any] | None:
    return None if gid is None else {"gid": gid, "resource_type": kind, **({"name": name} if name else {})}


def task_json(sb: "AsanaSandbox", task: dict[str, Any], opt_in: bool = False) -> dict[str, Any]:
    """The full task record (with opt-in fields when `opt_in`)."""
    parent = sb.tasks.get(task["parent"]) if task["parent"] else None
    out: dict[str, Any] = {
        "gid": task["gid"], "resource_type": "task", "resource_subtype": task["resource_subtype"],
        "name": task["name"], "notes": task["notes"], "completed": task["completed"],
        "completed_at": task["completed_at"], "created_at": task["created_at"],
        "modified_at": task["modified_at"], "due_on": task.get("due_on"), "due_at": task.get("due_at"),
        "parent": _compact("task", task["parent"], parent["name"] if parent else None),
        "projects": [_compact("project", m["project"], sb.projects[m["project"]]["name"])
                     for m in task["memberships"]],
        "memberships": [{"project": _compact("project", m["project"], sb.projects[m["project"]]["name"]),
                         "section": _compact("section", m["section"], sb.sections.get(m["section"], {}).get("name"))}
                        for m in task["memberships"]],
        "workspace": _compact("workspace", sb.workspace_gid, sb.workspace["name"]),
        "custom_fields": [_custom_value(sb, gid, value) for gid, value in task["custom_fields"].items()],
        "permalink_url": sb.permalink(task),
    }
    if sb.external_allowed and (task["external"] or opt_in):
        out["external"] = task["external"]
    if opt_in:
        out["html_notes"] = "<body>" + _escape(task["notes"]) + "</body>"
        out["num_subtasks"] = sum(1 for t in sb.tasks.values() if t["parent"] == task["gid"])
    return out


def _custom_value(sb: "AsanaSandbox", gid: str, value: Any) -> dict[str, Any]:
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


def _one(call: Call, record: dict[str, Any], status: int = 200) -> Reply:
    fields = call.opt_fields()
    return status, {"data": select(record, fields) if fields else record}


def _task_reply(call: Call, task: dict[str, Any], status: int = 200) -> Reply:
    return _one(call, task_json(call.sb, task, opt_in=call.opt_fields() is not None), status)


def _task_list(call: Call, tasks: list[dict[str, Any]]) -> Reply:
    """Compact records (or `opt_fields`), paged by `limit`/`offset` as Asana pages."""
    fields = call.opt_fields()
    rows = [select(task_json(call.sb, t, opt_in=True), fields) if fields else
            {"gid": t["gid"], "name": t["name"], "resource_type": "task", "resource_subtype": t["resource_subtype"]}
            for t in tasks]
    return 200, _page(call, rows)


def _page(call: Call, rows: list[dict[str, Any]]) -> dict[str, Any]:
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
        token = base64.urlsafe_b64encode(json.dumps({"p": path, "i": end}).encode()).decode().rstrip("=")
        query = [(k, v) for k, v in call.request.query_params.multi_items() if k != "offset"] + [("offset", token)]
        rel = f"{path}?{urlencode(query)}"
        next_page = {"offset": token, "path": rel, "uri": f"{call.request.base_url}api/1.0{rel}"}
    return {"data": rows[start:end], "next_page": next_page}


def _decode_offset(token: str, path: str) -> int:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if decoded["p"] == path and isinstance(decoded["i"], int) and decoded["i"] >= 0:
            return decoded["i"]
    except (ValueError, KeyError, TypeError):
        pass
    raise ApiError(400, "offset: Your pagination token is invalid")


# --- handlers --------------------------------------------------------------------------------

def _me(call: Call) -> Reply:
    sb = call.sb
    return _one(call, {**sb.user, "resource_type": "user",
                       "workspaces": [_compact("workspace", sb.workspace_gid, sb.workspace["name"])]})


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
                       "workspace": _compact("workspace", sb.workspace_gid, sb.workspace["name"]),
                       "permalink_url": f"{sb.app_url}/0/{project['gid']}/list"})


def _section(call: Call) -> Reply:
    sb, section = call.sb, call.sb.sections.get(call.path("section_gid"))
    if section is None:
        raise ApiError(404, f"Unknown object: {call.path('section_gid')}")
    project = sb.projects[section["project"]]
    return _one(call, {**section, "resource_type": "section",
                       "project": _compact("project", project["gid"], project["name"])})


def _in_project(call: Call, project: str, section: str | None = None) -> list[dict[str, Any]]:
    since = call.param("completed_since")
    return [t for t in call.sb.tasks.values()
            if any(m["project"] == project and (section is None or m["section"] == section) for m in t["memberships"])
            and (since is None or not t["completed"] or (since != "now" and (t["completed_at"] or "") >= since))]


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
    return _task_list(call, [t for t in tasks if modified is None or _instant(t["modified_at"], "") >= modified])


def _instant(value: str | None, name: str) -> datetime | None:
    """An ISO 8601 date-time as an aware datetime (Asana accepts any offset); 400 when malformed."""
    if value is None:
        return None
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
