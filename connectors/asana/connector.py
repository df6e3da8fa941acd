"""Asana: one task per ticket in a project, one subtask per action item, over the REST API (httpx).

The connector does the I/O: find, create, place and update tasks and subtasks. What a task
should look like (name, notes, completed, custom fields) is rendered by `render.render_task`, a
pure function; the settings are in `settings.py`; requests, paging and error mapping are in
`client.py`. A new task goes into `section_gid` when one is set.

The marker: where the token may write external data (Asana documents `external` as OAuth-only,
visible only to the app that wrote it), the task carries `external.gid = cogny:<ticket id>`
and `find` addresses it directly as `GET /tasks/external:<gid>`. Otherwise (or when that misses)
`find` looks for the marker as the last line of the notes of the project's tasks (one full
listing per process, then only tasks modified since, so a new ticket costs two small GETs).
Both markers are built from the ticket id alone (`render.marker`), and a task counts only if its
marker is exactly this ticket's (the external gid Asana answers with, or the notes' whole last
line).
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import structlog

from connectors.asana.client import AsanaHttp, answer_data
from connectors.asana.render import marker, render_task, renderer
from connectors.asana.settings import AsanaSettings
from syncd.http import RetryPolicy
from syncd.sdk import (
    Check,
    ConnectorError,
    Desired,
    ExternalRef,
    PartialItems,
    RecordGone,
    SyncBackSource,
    SyncsBack,
    Ticket,
    adopt_children,
    is_ticket_id,
    render,
)

log = structlog.get_logger("syncd.connectors.asana")
INDEX_MARGIN = timedelta(minutes=5)


class AsanaConnector(SyncsBack):
    type = "asana"
    label = "Asana"
    Settings = AsanaSettings
    progress_keys = (("completed",), ("completed",))  # a task's progress is its `completed` flag

    def __init__(self, name: str, settings: AsanaSettings, *, policy: RetryPolicy | None = None):
        self.name = name
        self.settings = settings
        self.policy = policy or RetryPolicy()
        self.http = AsanaHttp(settings.base_url, settings.token.get_secret_value(), self.policy)
        self._external = True  # False once Asana shows this token may not write external data
        self._index: dict[str, ExternalRef] = {}  # notes marker -> task, see _find_in_project
        self._watermark: str | None = None
        self._index_lock = threading.Lock()
        self.templates = renderer(settings)

    # -- rendering (pure) ----------------------------------------------------------------
    def render(self, ticket: Ticket) -> Desired:
        """The task and subtasks `ticket` should have; see `render.render_task` (no I/O)."""
        return render_task(self.settings, self.templates, ticket)

    # -- reading ---------------------------------------------------------------------------
    def find(self, ticket: Ticket) -> ExternalRef | None:
        key = marker(ticket.id)
        if self._external:
            task = self._by_external(key)
            if task is not None:
                return _ref(task)
        return self._find_in_project(key)

    def _find_in_project(self, key: str) -> ExternalRef | None:
        """The notes marker, from an index of the project: one full listing, then `modified_since` deltas.

        A hit is confirmed with a GET, since the index does not see deletions.
        """
        with self._index_lock:
            self._refresh_index()
            ref = self._index.get(key)
        if ref is None:
            return None
        response = self.http.send("GET", f"/tasks/{ref.id}", "get task",
                                  params={"opt_fields": "permalink_url"}, allow=(404,))
        if response.status_code == 404:
            with self._index_lock:
                self._index.pop(key, None)
            return None
        return _ref(answer_data(response, "get task"))

    def _refresh_index(self) -> None:
        fields = {"opt_fields": "name,notes,permalink_url,modified_at"}
        if self._watermark is None:
            rows = self.http.pages(f"/projects/{self.settings.project_gid}/tasks", fields,
                                   "list project tasks")
        else:
            changed = {**fields, "project": self.settings.project_gid, "modified_since": self._watermark}
            rows = self.http.pages("/tasks", changed, "list changed project tasks")
        latest = None
        for task in rows:
            key = _last_line(task.get("notes"))
            if key.startswith("cogny:") and is_ticket_id(key.removeprefix("cogny:")):
                self._index.setdefault(key, _ref(task))
            latest = max(latest or "", task.get("modified_at") or "") or None
        if latest:  # Asana's clock, less a margin for writes that become visible late
            moment = datetime.fromisoformat(latest.replace("Z", "+00:00")) - INDEX_MARGIN
            self._watermark = max(self._watermark or "", moment.strftime("%Y-%m-%dT%H:%M:%S.000Z"))

    def _by_external(self, key: str) -> dict[str, Any] | None:
        """The task whose external gid is exactly `key` (the answer's own gid is checked too)."""
        response = self.http.send("GET", f"/tasks/external:{quote(key, safe='')}",
                                  "find task by external gid",
                                  params={"opt_fields": "name,permalink_url,external"}, allow=(400, 403, 404))
        if response.status_code == 403:
            self._external = False
        if response.status_code != 200:
            return None
        task = answer_data(response, "find task by external gid")
        return task if (task.get("external") or {}).get("gid") == key else None

    def find_items(self, ref: ExternalRef) -> dict[str, ExternalRef]:
        out: dict[str, ExternalRef] = {}
        fields = {"opt_fields": "name,permalink_url"}
        for task in self.http.pages(f"/tasks/{ref.id}/subtasks", fields, "list subtasks"):
            out.setdefault(task.get("name", ""), _ref(task))
        return out

    # -- writing ---------------------------------------------------------------------------
    def create(self, ticket: Ticket, desired: Desired) -> ExternalRef:
        task = self._create_task(self._new_task(ticket, desired))
        ref = _ref(task)
        log.info("asana task created", external_id=ref.id, url=ref.url)
        with self._index_lock:
            self._index[marker(ticket.id)] = ref
        if self.settings.section_gid:
            self._place(ref)
        return ref

    def preview(self, ticket: Ticket, desired: Desired) -> list[dict[str, Any]]:
        """The requests `create` and `create_items` would send (syncd.sdk.Previews); nothing is read."""
        requests = [
            {"method": "POST", "path": "/api/1.0/tasks", "body": {"data": self._new_task(ticket, desired)}}
        ]
        requests += [
            {
                "method": "POST",
                "path": "/api/1.0/tasks/<gid of the new task>/subtasks",
                "body": {
                    "data": {"name": item["name"], "notes": item["notes"], "completed": item["completed"]}
                },
            }
            for item in desired.items.values()
        ]
        if self.settings.section_gid:
            place = {"project": self.settings.project_gid, "section": self.settings.section_gid}
            requests.insert(1, {"method": "POST", "path": "/api/1.0/tasks/<gid of the new task>/addProject",
                                "body": {"data": place}})
        return requests

    def _new_task(self, ticket: Ticket, desired: Desired) -> dict[str, Any]:
        data = {**_task_fields(desired.record, None), "projects": [self.settings.project_gid]}
        if self._external:
            data["external"] = {"gid": marker(ticket.id),
                                "data": json.dumps({"ticket_id": ticket.id, "url": render.source_url(ticket)},
                                                  sort_keys=True)}
        return data

    def _create_task(self, data: dict[str, Any]) -> dict[str, Any]:
        """POST /tasks; when Asana refuses or drops `external` for this token, go on without it."""
        params = {"opt_fields": "name,permalink_url,external"}
        try:
            task = self.http.call("POST", "/tasks", "create task", params=params, data=data)
        except ConnectorError as exc:
            refused = exc.status == 403 or exc.status == 400 and "external" in exc.message
            if "external" not in data or not refused:  # a 403/400 create was not applied: safe to resend
                raise
            log.warning("asana refused external data for this token; the notes marker alone will find tasks",
                        error=exc.message)
            self._external = False
            return self.http.call("POST", "/tasks", "create task", params=params,
                                  data={k: v for k, v in data.items() if k != "external"})
        if "external" in data and not (task.get("external") or {}).get("gid"):
            log.warning("asana did not keep external data for this token; "
                        "the notes marker alone will find tasks")
            self._external = False
        return task

    def _place(self, ref: ExternalRef) -> None:
        """Move the task into `section_gid` (the published spec makes `memberships` read-only)."""
        self.http.call("POST", f"/tasks/{ref.id}/addProject", "place task in section",
                       data={"project": self.settings.project_gid, "section": self.settings.section_gid})
        log.info("asana task placed in section", external_id=ref.id, section=self.settings.section_gid)

    def update(self, ref: ExternalRef, ticket: Ticket, desired: Desired,
               previous: Desired | None) -> ExternalRef:
        fields = _task_fields(desired.record, previous.record if previous else None)
        if fields:
            task = self._put_task(ref, "update task", "permalink_url", fields)
            ref = ExternalRef(ref.id, None, task.get("permalink_url") or ref.url)
            log.info("asana task updated", external_id=ref.id, fields=sorted(fields))
        if previous is None and self.settings.section_gid:
            self._place(ref)  # adopted after a crash: the placement may never have happened
        return ref

    def create_items(self, ref: ExternalRef, ticket: Ticket,
                     items: dict[str, dict[str, Any]]) -> dict[str, ExternalRef]:
        created = adopt_children(self, ref, items, "name") if self.templates.has("item_title") else {}
        for key, item in items.items():
            if key in created:
                continue
            try:
                task = self.http.call("POST", f"/tasks/{ref.id}/subtasks", "create subtask",
                                      params={"opt_fields": "name,permalink_url"},
                                      data={"name": item["name"], "notes": item["notes"],
                                            "completed": item["completed"]})
            except ConnectorError as exc:
                raise PartialItems(created, exc) from None
            created[key] = _ref(task)
            log.info("asana subtask created", parent=ref.id, external_id=task["gid"])
        return created

    def update_item(self, ref: ExternalRef, item_ref: ExternalRef, item: dict[str, Any],
                    previous: dict[str, Any] | None) -> None:
        fields = _task_fields(item, previous)
        if fields:
            self._put_task(item_ref, "update subtask", "name", fields)
            log.info("asana subtask updated", external_id=item_ref.id, fields=sorted(fields))

    def _put_task(
        self, ref: ExternalRef, what: str, opt_fields: str, fields: dict[str, Any]
    ) -> dict[str, Any]:
        """PUT a task; `RecordGone` when it answers 404 while the project is still readable.

        Asana answers 404 for a deleted task and also for one these credentials can no longer
        see; only the first is a person's decision, told apart by reading the project.
        """
        try:
            return self.http.call(
                "PUT", f"/tasks/{ref.id}", what, params={"opt_fields": opt_fields}, data=fields
            )
        except ConnectorError as exc:
            if exc.status != 404 or not self._project_visible():
                raise
            raise RecordGone("asana", str(exc), status=404, how="deleted in Asana") from None

    def _project_visible(self) -> bool:
        response = self.http.send("GET", f"/projects/{self.settings.project_gid}", "get project",
                                  params={"opt_fields": "name"}, allow=(403, 404))
        return response.status_code < 400

    # -- checks ----------------------------------------------------------------------------
    def check(self) -> list[Check]:
        s = self.settings
        try:
            me = self.http.call("GET", "/users/me", "who am I", params={"opt_fields": "name,email"})
        except ConnectorError as exc:
            return [Check("asana credentials", False, str(exc), "check `token` (a personal access token)")]
        checks = [Check("asana credentials", True, f"authenticated as {me.get('name') or me.get('email')}")]
        checks.append(self._check_one(f"asana workspace {s.workspace_gid}", f"/workspaces/{s.workspace_gid}",
                                      "name", None, "check `workspace_gid`"))
        checks.append(self._check_one(f"asana project {s.project_gid}", f"/projects/{s.project_gid}",
                                      "name,archived,workspace", ("workspace", s.workspace_gid),
                                      "check `project_gid` (it must be in `workspace_gid`)"))
        if s.section_gid:
            checks.append(self._check_one(f"asana section {s.section_gid}", f"/sections/{s.section_gid}",
                                          "name,project", ("project", s.project_gid),
                                          "check `section_gid` (it must be a section of `project_gid`)"))
        return checks

    def _check_one(self, label: str, path: str, fields: str, belongs: tuple[str, str] | None,
                   fix: str) -> Check:
        try:
            found = self.http.call("GET", path, label, params={"opt_fields": fields})
        except ConnectorError as exc:
            return Check(label, False, str(exc), fix)
        if belongs and (found.get(belongs[0]) or {}).get("gid") != belongs[1]:
            return Check(label, False, f"{found.get('name')!r} belongs to {belongs[0]} "
                                       f"{(found.get(belongs[0]) or {}).get('gid')}, not {belongs[1]}", fix)
        if found.get("archived"):
            return Check(label, False, f"{found.get('name')!r} is archived", fix)
        return Check(label, True, str(found.get("name") or ""))

    def _new_sync_back_source(self) -> SyncBackSource:
        from connectors.asana.syncback import AsanaSyncBack
        return AsanaSyncBack(self)

    def close(self) -> None:
        self.http.close()


def _task_fields(record: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
    """The writable fields that differ from what was last applied (`old` None: all of them).

    Without a record of what was applied (an adopted task) an open ticket does not reopen a
    task someone completed by hand; a done ticket still completes it.
    """
    fields = {k: record[k] for k in ("name", "notes") if old is None or old.get(k) != record[k]}
    if "assignee" in record and (record["assignee"] if old is None
                                 else old.get("assignee") != record["assignee"]):
        fields["assignee"] = record["assignee"]
    if old is None:
        if record["completed"]:
            fields["completed"] = True
    elif old.get("completed") != record["completed"]:
        fields["completed"] = record["completed"]
    if "custom_fields" in record:
        before = (old or {}).get("custom_fields", {})
        changed = {k: v for k, v in record["custom_fields"].items() if old is None or before.get(k, ...) != v}
        changed.update({k: None for k in before if k not in record["custom_fields"]})
        if changed:
            fields["custom_fields"] = changed
    return fields


def _ref(task: dict[str, Any]) -> ExternalRef:
    return ExternalRef(str(task["gid"]), None, task.get("permalink_url"))


def _last_line(notes: str | None) -> str:
    lines = (notes or "").strip().splitlines()
    return lines[-1].strip() if lines else ""

