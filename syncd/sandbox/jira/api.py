"""HTTP layer of the JIRA sandbox: the REST v2/v3 endpoints the `jira` library calls.

Every endpoint runs through `_endpoint`, which checks the API version in the path, the
credentials (401 as JIRA answers it), the JSON body (400/415), takes the sandbox lock and turns
`ApiError` into JIRA's `{"errorMessages", "errors"}` body. Search endpoints are in
`jira_search.py`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from syncd.sandbox.jira.catalog import (
    BAD_CREDENTIALS, ISSUE_TYPES, PRIORITIES, RESOLUTIONS, STATUSES, TRANSITIONS, ApiError, Renderer, count_param,
    field_list, field_selector, jira_time, not_found_issue, utc_now,
)
from syncd.sandbox.jira.fields import FieldError, check_comment_body, validate_create, validate_edit

if TYPE_CHECKING:
    from syncd.sandbox.jira.sandbox import JiraSandbox

Reply = tuple[int, Any]
BULK_LIMIT = 50
_NOT_ON_SCREEN = "Field '{0}' cannot be set. It is not on the appropriate screen, or unknown."


@dataclass
class Call:
    """One request as a handler sees it."""

    sb: "JiraSandbox"
    request: Request
    user: str | None
    body: Any
    version: str  # "2" or "3"
    render: Renderer

    def param(self, name: str, default: str | None = None) -> str | None:
        return self.request.query_params.get(name, default)

    def params(self, name: str) -> list[str]:
        return self.request.query_params.getlist(name)

    def path(self, name: str) -> str:
        return str(self.request.path_params[name])

    def issue(self) -> dict[str, Any]:
        found = self.sb.lookup(self.path("key"))
        if found is None:
            raise not_found_issue()
        return found


Handler = Callable[[Call], "Reply | Response"]


def _endpoint(sb: "JiraSandbox", handler: Handler, anonymous: bool = False) -> Callable[[Request], Any]:
    async def serve(request: Request) -> Response:
        version = {"2": "2", "3": "3", "latest": "2"}.get(request.path_params.get("version", "2"))
        if version is None or (version == "3" and not sb.cloud):  # Server/DC has no REST v3
            return JSONResponse({"errorMessages": [f"null for uri: {request.url}"], "errors": {}}, 404)
        raw = await request.body()
        try:
            user = sb.authenticate(request)
            if user is None and not anonymous:
                raise ApiError(401, ["You are not authenticated. Authentication required to perform this operation."])
            body = _parse_body(request, raw)
            call = Call(sb, request, user, body, version, sb.renderer(str(request.base_url).rstrip("/"), version))
            with sb.lock:
                reply = handler(call)
        except ApiError as exc:
            return _error(sb, exc)
        if isinstance(reply, Response):
            return reply
        status, payload = reply
        return Response(status_code=status) if payload is None else JSONResponse(payload, status)

    return serve


def _error(sb: "JiraSandbox", exc: ApiError) -> Response:
    """JIRA's error body; Cloud answers rejected credentials with a plain-text 401."""
    headers = {"X-Seraph-LoginReason": "AUTHENTICATED_FAILED"} if exc.status == 401 else None
    if exc.status == 401 and sb.cloud and exc.messages == [BAD_CREDENTIALS]:
        return PlainTextResponse(BAD_CREDENTIALS, 401, headers={**(headers or {}),
                                                                "WWW-Authenticate": 'Basic realm="protected-area"'})
    return JSONResponse(exc.body(), exc.status, headers=headers)


def _parse_body(request: Request, raw: bytes) -> Any:
    if not raw.strip():
        return None
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise ApiError(415, ["Unsupported Media Type: send JSON with Content-Type: application/json."])
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, [f"Unexpected character in JSON body: {exc}"]) from None


# --- instance metadata ---------------------------------------------------------------------------

def server_info(call: Call) -> Reply:
    cloud = call.sb.cloud
    numbers = [1001, 0, 0] if cloud else [9, 12, 2]
    return 200, {"baseUrl": call.render.base, "displayUrl": call.render.base,
                 "version": "1001.0.0-SNAPSHOT" if cloud else "9.12.2", "versionNumbers": numbers,
                 "deploymentType": call.sb.deployment, "buildNumber": 100289 if cloud else 9120002,
                 "buildDate": "2025-01-01T00:00:00.000+0000", "serverTime": jira_time(utc_now()),
                 "scmInfo": "0" * 40, "serverTitle": "syncd sandbox JIRA",
                 "serverTimeZone": "Etc/UTC"}


def myself(call: Call) -> Reply:
    assert call.user is not None
    return 200, call.render.user(call.user)


def project_for(call: Call) -> str:
    ref = call.path("project")
    for key, proj in call.sb.projects.items():
        if ref.upper() == key or ref == proj["id"]:
            return key
    raise ApiError(404, [f"No project could be found with key '{ref}'."])


def projects(call: Call) -> Reply:
    expand = call.param("expand") or ""
    return 200, [call.render.project(k, "issueTypes" in expand) for k in call.sb.projects]


def project(call: Call) -> Reply:
    return 200, call.render.project(project_for(call))


def project_statuses(call: Call) -> Reply:
    project_for(call)
    return 200, [{"self": call.render.url(f"issuetype/{spec['id']}"), "id": spec["id"], "name": name,
                  "subtask": spec["subtask"], "statuses": [call.render.status(s) for s in STATUSES]}
                 for name, spec in ISSUE_TYPES.items()]


def issuetype_one(call: Call) -> Reply:
    for name, spec in ISSUE_TYPES.items():
        if spec["id"] == call.path("id"):
            return 200, call.render.issuetype(name)
    raise ApiError(404, ["The issue type with id '%s' does not exist." % call.path("id")])


def resolution_one(call: Call) -> Reply:
    name = next((n for n, spec in RESOLUTIONS.items() if spec["id"] == call.path("id")), None)
    if name is None:
        raise ApiError(404, [f"The resolution with id '{call.path('id')}' does not exist."])
    return 200, call.render.resolution(name)


def priority_one(call: Call) -> Reply:
    for name, pid in PRIORITIES.items():
        if pid == call.path("id"):
            return 200, call.render.priority(name)
    raise ApiError(404, [f"The priority with id '{call.path('id')}' does not exist."])


def _page(call: Call, items: list[Any], cloud_key: str) -> Reply:
    """createmeta paging: Cloud names the list `issueTypes`/`fields`, Server/DC names it `values`."""
    start = count_param(call.param("startAt"), "startAt", 0)
    size = count_param(call.param("maxResults"), "maxResults", 50)
    if size > 200:
        raise ApiError(400, ["Parameter 'maxResults' must not exceed the limit '200'"])
    chunk = items[start:start + size]
    body = {"maxResults": size, "startAt": start, "total": len(items), cloud_key if call.sb.cloud else "values": chunk}
    if not call.sb.cloud:
        body["isLast"] = start + len(chunk) >= len(items)
    return 200, body


def createmeta_types(call: Call) -> Reply:
    project_for(call)
    return _page(call, [call.render.issuetype(name) for name in ISSUE_TYPES], "issueTypes")


def createmeta_fields(call: Call) -> Reply:
    project_for(call)
    name = next((n for n, s in ISSUE_TYPES.items() if s["id"] == call.path("id")), None)
    if name is None:
        raise ApiError(404, [f"Issue type with id '{call.path('id')}' does not exist in this project."])
    fields = []
    for spec in field_list():
        fid = spec["id"]
        if not spec["orderable"]:
            continue
        required = fid in ("project", "issuetype", "summary") or (fid == "parent" and ISSUE_TYPES[name]["subtask"])
        meta = {"required": required, "schema": spec["schema"], "name": spec["name"], "fieldId": fid, "key": fid,
                "hasDefaultValue": fid == "priority",
                "operations": ["add", "set", "remove"] if fid == "labels" else ["set"]}
        if fid == "priority":
            meta["allowedValues"] = [call.render.priority(p) for p in PRIORITIES]
        fields.append(meta)
    return _page(call, fields, "fields")


# --- issues ----------------------------------------------------------------------------------

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
        raise ApiError(400, [], {f: _NOT_ON_SCREEN.format(f) for f in sorted(screenless)})
    call.sb.apply_status(issue, target, user=call.user)
    for comment in patch["comments"]:
        call.sb.add_comment(issue, comment, call.user or "")
    return 204, None


# --- remote links and comments -------------------------------------------------------------------

def _link_json(call: Call, issue: dict[str, Any], link: dict[str, Any]) -> dict[str, Any]:
    out = {"id": link["id"], "self": call.render.url(f"issue/{issue['key']}/remotelink/{link['id']}")}
    out.update({k: link[k] for k in ("globalId", "application", "relationship", "object") if k in link})
    return out


def _find_link(call: Call, issue: dict[str, Any]) -> dict[str, Any]:
    link = next((lk for lk in issue["remotelinks"] if str(lk["id"]) == call.path("link")), None)
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
    return {k: body[k] for k in ("globalId", "application", "relationship", "object") if body.get(k) is not None}


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
        body = check_comment_body(call.body.get("body") if isinstance(call.body, dict) else None, call.version)
    except FieldError as exc:
        raise ApiError(400, [], {"comment": str(exc)}) from None
    return 201, call.render.comment(issue, call.sb.add_comment(issue, body, call.user or ""))


def applinks(call: Call) -> Reply:
    """No application links are configured (the library asks before adding a remote link)."""
    return 200, []


# --- routing -------------------------------------------------------------------------------------

def build_routes(sb: "JiraSandbox") -> list[Route]:
    from syncd.sandbox.jira.search import cloud_search, legacy_search

    table: list[tuple[str, str, Handler]] = [
        ("GET", "myself", myself), ("GET", "field", lambda c: (200, field_list())),
        ("GET", "priority", lambda c: (200, [c.render.priority(p) for p in PRIORITIES])),
        ("GET", "priority/{id}", priority_one), ("GET", "project", projects),
        ("GET", "resolution", lambda c: (200, [c.render.resolution(n) for n in RESOLUTIONS])),
        ("GET", "resolution/{id}", resolution_one),
        ("GET", "project/{project}", project), ("GET", "project/{project}/statuses", project_statuses),
        ("GET", "project/{project}/components", lambda c: (200, c.render.components(project_for(c)))),
        ("GET", "issuetype", lambda c: (200, [c.render.issuetype(n) for n in ISSUE_TYPES])),
        ("GET", "issuetype/{id}", issuetype_one),
        ("GET", "status", lambda c: (200, [c.render.status(s) for s in STATUSES])),
        ("GET", "issue/createmeta/{project}/issuetypes", createmeta_types),
        ("GET", "issue/createmeta/{project}/issuetypes/{id}", createmeta_fields),
        ("POST", "issue", create_issue), ("POST", "issue/bulk", create_issues),
        ("GET", "issue/{key}", get_issue), ("PUT", "issue/{key}", edit_issue), ("DELETE", "issue/{key}", delete_issue),
        ("GET", "issue/{key}/transitions", get_transitions), ("POST", "issue/{key}/transitions", do_transition),
        ("GET", "issue/{key}/remotelink", get_links), ("POST", "issue/{key}/remotelink", upsert_link),
        ("GET", "issue/{key}/remotelink/{link}", get_link), ("PUT", "issue/{key}/remotelink/{link}", put_link),
        ("DELETE", "issue/{key}/remotelink/{link}", delete_link),
        ("GET", "issue/{key}/comment", get_comments), ("POST", "issue/{key}/comment", add_comment),
        ("GET", "search", legacy_search), ("POST", "search", legacy_search),
        ("GET", "search/jql", cloud_search), ("POST", "search/jql", cloud_search),
    ]
    routes = [Route("/rest/api/{version}/serverInfo", _endpoint(sb, server_info, anonymous=True), methods=["GET"])]
    routes += [Route(f"/rest/api/{{version}}/{path}", _endpoint(sb, fn), methods=[method])
               for method, path, fn in table]
    routes.append(Route("/rest/applinks/latest/listApplicationlinks",
                        _endpoint(sb, applinks), methods=["GET"]))
    return routes
