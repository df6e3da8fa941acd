"""The JIRA sandbox's instance metadata endpoints: server info, the user, projects, issue types, create meta.

What a client reads before it writes: `serverInfo` (anonymous; Cloud or Server/DC by the
`deployment` knob), `myself`, projects with their statuses and components, issue types,
priorities, resolutions, and the paged create meta of each issue type.
"""

from __future__ import annotations

from typing import Any

from syncd.sandbox.jira.catalog import ISSUE_TYPES, PRIORITIES, RESOLUTIONS, STATUSES, field_list
from syncd.sandbox.jira.endpoint import Call, Reply
from syncd.sandbox.jira.wire import ApiError, count_param, jira_time, utc_now


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
    body = {"maxResults": size, "startAt": start, "total": len(items),
            cloud_key if call.sb.cloud else "values": chunk}
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
        required = (fid in ("project", "issuetype", "summary")
                    or (fid == "parent" and ISSUE_TYPES[name]["subtask"]))
        meta = {"required": required, "schema": spec["schema"], "name": spec["name"], "fieldId": fid,
                "key": fid,
                "hasDefaultValue": fid == "priority",
                "operations": ["add", "set", "remove"] if fid == "labels" else ["set"]}
        if fid == "priority":
            meta["allowedValues"] = [call.render.priority(p) for p in PRIORITIES]
        fields.append(meta)
    return _page(call, fields, "fields")


def applinks(call: Call) -> Reply:
    """No application links are configured (the library asks before adding a remote link)."""
    return 200, []
