"""The Asana sandbox's state: the workspace, its projects, sections, custom fields and tasks, and their rules.

State is plain dicts guarded by `self.lock`. `AsanaState` holds it and changes it as Asana
does (raising `ApiError` where Asana refuses); the HTTP face on top is `AsanaSandbox`
(sandbox.py). Tests inspect and act through the helpers below (`tasks`, `subtasks`,
`find_by_external`, `complete`, `delete`, `heartbeat`; `hooks.flush()` and `hooks.deliveries()`
for webhook deliveries). Every change fires Asana events (hooks.py), whoever made it.

`modified_at` follows Asana's definition (the `modified_since` parameter's note in the spec): a
task is modified when its own properties or associations change, "not ... just because another
object it is associated with (e.g. a subtask) is modified" — completing a subtask leaves its
parent's `modified_at` alone.

Knobs that mirror how the real service differs between accounts:
- `external_allowed=False`: the token's app may not write `external` data (Asana documents
  `external` as OAuth-only and per-app). `external_refusal` picks how that shows: "forbid"
  (403, the default) or "ignore" (accepted and dropped; the task has no external gid); either
  way `GET /tasks/external:<gid>` answers 404, as the app sees no external data.
- `rate_limit`: requests per `rate_window` seconds per token; over it, 429 with `Retry-After`,
  and rejected requests still count (Asana's rate-limit docs).
"""

from __future__ import annotations

import copy
import itertools
import re
from html import unescape
from typing import Any

from syncd.sandbox import specs
from syncd.sandbox._common.base import Sandbox
from syncd.sandbox._common.hooks import HookDispatcher
from syncd.sandbox._common.openapi import load_spec
from syncd.sandbox.asana.hooks import AsanaEvents
from syncd.sandbox.asana.wire import ApiError, now_iso

# The published schema types every custom field value as a string, yet Asana's custom-fields
# guide has number fields take numbers and multi-enum fields take lists: accept any JSON value.
SPEC_OVERRIDES: dict[str, Any] = {
    "#/components/schemas/TaskRequestBase/allOf/1/properties/custom_fields/additionalProperties": {},
}
PRIORITY_NAMES = ("Critical", "High", "Medium", "Low")


class AsanaState(Sandbox):
    """What one Asana workspace holds and how it changes; `AsanaSandbox` serves it over HTTP."""

    name = "asana"

    def __init__(self, *, tokens: set[str] | None = None, workspace_gid: str = "1200000000000001",
                 project_gid: str = "1200000000000002", external_allowed: bool = True,
                 rate_limit: int | None = None, app_url: str = "https://app.asana.com",
                 external_refusal: str = "forbid", rate_window: float = 60.0) -> None:
        super().__init__()
        if external_refusal not in ("forbid", "ignore"):
            raise ValueError(f"external_refusal must be 'forbid' or 'ignore', not {external_refusal!r}")
        self.tokens: set[str] = set(tokens) if tokens is not None else {"asana-sandbox"}
        self.workspace_gid = workspace_gid
        self.project_gid = project_gid
        self.external_allowed = external_allowed
        self.external_refusal = external_refusal
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.app_url = app_url.rstrip("/")
        self.spec = load_spec(specs.ASANA).with_overrides(SPEC_OVERRIDES)
        self._gids = itertools.count(1210000000000001)
        self.user: dict[str, Any] = {"gid": self.new_gid(), "name": "syncd bot", "email": "bot@example.com"}
        self.workspace: dict[str, Any] = {"gid": workspace_gid, "name": "Growth Co", "is_organization": True}
        self.projects: dict[str, dict[str, Any]] = {
            project_gid: {"gid": project_gid, "name": "Growth tickets", "archived": False}}
        self.sections: dict[str, dict[str, Any]] = {}
        self.default_section_gid = self.add_section("Untitled section")
        self.section_gid = self.add_section("Growth")
        self.custom_fields: dict[str, dict[str, Any]] = {}
        self.priority_field_gid = self.new_gid()
        self.priority_options = {n.lower(): self.new_gid() for n in PRIORITY_NAMES}
        self.custom_fields[self.priority_field_gid] = {
            "gid": self.priority_field_gid, "name": "Priority", "resource_subtype": "enum",
            "enum_options": [{"gid": g, "name": n.title()} for n, g in self.priority_options.items()]}
        self.text_field_gid = self.new_gid()
        self.custom_fields[self.text_field_gid] = {"gid": self.text_field_gid, "name": "Source",
                                                   "resource_subtype": "text"}
        self.tasks: dict[str, dict[str, Any]] = {}
        self.rate_counts: dict[str, tuple[float, int]] = {}  # token -> (window start, requests)
        self.events = AsanaEvents(self)
        self.hooks: HookDispatcher = self.events.dispatcher  # deliveries(), flush() for tests

    def stop(self) -> None:
        self.hooks.stop()
        super().stop()

    def new_gid(self) -> str:
        """Asana gids are opaque numeric strings of 16 digits."""
        return str(next(self._gids))

    def add_section(self, name: str, project_gid: str | None = None) -> str:
        gid = self.new_gid()
        self.sections[gid] = {"gid": gid, "name": name, "project": project_gid or self.project_gid,
                              "created_at": now_iso()}
        return gid

    def permalink(self, task: dict[str, Any]) -> str:
        project = task["memberships"][0]["project"] if task["memberships"] else "0"
        return f"{self.app_url}/0/{project}/{task['gid']}"

    # --- helpers for tests (thread-safe, return copies) --------------------------------------

    def task(self, gid: str) -> dict[str, Any]:
        """A deep copy of the stored task (KeyError if missing)."""
        with self.lock:
            return copy.deepcopy(self.tasks[gid])

    def top_level(self) -> list[dict[str, Any]]:
        """Tasks without a parent, oldest first."""
        with self.lock:
            return [copy.deepcopy(t) for t in self.tasks.values() if t["parent"] is None]

    def subtasks(self, gid: str) -> list[dict[str, Any]]:
        """The subtasks of task `gid`, oldest first."""
        with self.lock:
            return [copy.deepcopy(t) for t in self.tasks.values() if t["parent"] == gid]

    def find_by_external(self, external_gid: str) -> dict[str, Any] | None:
        with self.lock:
            found = self.by_external(external_gid)
            return copy.deepcopy(found) if found else None

    def complete(self, gid: str, completed: bool = True) -> None:
        """A person ticks (or unticks) the task in Asana's UI (its parent's `modified_at` stays)."""
        with self.lock:
            task = self.tasks[gid]
            before = copy.deepcopy(task)
            self.set_completed(task, completed)
            if task["completed"] != before["completed"]:
                task["modified_at"] = now_iso()
                self.events.changed(task, before)

    def delete(self, gid: str) -> None:
        """Delete a task and, as Asana does, its subtasks (a `deleted` event for each)."""
        with self.lock:
            task = self.tasks.get(gid)
            if task is None:
                return
            for child in [g for g, t in self.tasks.items() if t["parent"] == gid]:
                self.delete(child)
            self.events.deleted(task)  # while it is still stored: the event reaches its projects
            self.tasks.pop(gid, None)

    def heartbeat(self) -> None:
        """Send every webhook the empty `{"events": []}` delivery Asana sends periodically."""
        with self.lock:
            self.events.heartbeat()

    def webhooks(self) -> list[dict[str, Any]]:
        """The webhooks established so far (copies)."""
        with self.lock:
            return copy.deepcopy(list(self.events.webhooks.values()))

    def add_task(self, name: str, notes: str = "", **fields: Any) -> str:
        """Put a task in the project directly (as a person would), bypassing the API."""
        with self.lock:
            data = {"name": name, "notes": notes, "projects": [self.project_gid], **fields}
            gid: str = self.create_task(data)["gid"]
            return gid

    # --- state changes (callers hold self.lock) ----------------------------------------------

    def by_external(self, external_gid: str) -> dict[str, Any] | None:
        return next((t for t in self.tasks.values()
                     if (t.get("external") or {}).get("gid") == external_gid), None)

    def lookup(self, ref: str) -> dict[str, Any] | None:
        """A task by gid, or by `external:<gid>` where this token's app can see external data."""
        if ref.startswith("external:"):
            return self.by_external(ref[len("external:"):]) if self.external_allowed else None
        return self.tasks.get(ref)

    def create_task(self, data: dict[str, Any], parent: str | None = None) -> dict[str, Any]:
        """Create from a validated TaskCreateRequest `data`; raise ApiError as Asana would."""
        data = dict(data)
        projects = data.pop("projects", None) or []
        for i, gid in enumerate(projects):
            if gid not in self.projects:
                raise ApiError(400, f"projects: [{i}]: Not a recognized ID: {gid}")
        workspace = data.pop("workspace", None)
        if workspace is not None and workspace != self.workspace_gid:
            raise ApiError(400, f"workspace: Not a recognized ID: {workspace}")
        given_parent = data.pop("parent", None)
        parent = parent or given_parent
        if parent is not None and parent not in self.tasks:
            raise ApiError(400, f"parent: Not a recognized ID: {parent}")
        if not (projects or workspace or parent):
            raise ApiError(400, "workspace: Missing input")
        gid, stamp = self.new_gid(), now_iso()
        task: dict[str, Any] = {
            "gid": gid, "name": "", "notes": "", "completed": False, "completed_at": None,
            "created_at": stamp, "modified_at": stamp, "parent": parent, "external": None,
            "resource_subtype": "default_task", "custom_fields": {},
            "memberships": [{"project": p, "section": self.first_section(p)} for p in projects]}
        self.apply(task, data, notify=False)
        self.tasks[gid] = task
        if parent is not None:
            self.events.added(task, "task", parent)
        for project in projects:
            self.events.added(task, "project", project)
        return task

    def apply(self, task: dict[str, Any], data: dict[str, Any], notify: bool = True) -> None:
        """Apply validated writable fields (create or update) to a stored task; `changed` events follow."""
        before = copy.deepcopy(task)
        data = dict(data)
        if "external" in data:
            external = self.checked_external(task, data.pop("external"))
            if external is not None:
                task["external"] = external
        if "custom_fields" in data:
            task["custom_fields"].update(self.checked_custom_fields(data.pop("custom_fields") or {}))
        if "html_notes" in data:
            data["notes"] = _strip_tags(data.pop("html_notes"))
        if "completed" in data:
            self.set_completed(task, bool(data.pop("completed")))
        if data.get("parent") is not None and data["parent"] not in self.tasks:
            raise ApiError(400, f"parent: Not a recognized ID: {data['parent']}")
        task.update(data)
        task["modified_at"] = now_iso()
        if notify:
            self.events.changed(task, before)

    def checked_external(self, task: dict[str, Any], external: Any) -> dict[str, Any] | None:
        if not self.external_allowed:
            if self.external_refusal == "ignore":
                return None
            raise ApiError(403, "external: This app is not allowed to read or write external data "
                                "(external data needs an OAuth app)")
        external = dict(external or {})
        gid = external.get("gid")
        if gid is not None and len(gid) > 1024:
            raise ApiError(400, "external.gid: Must be at most 1024 characters")
        if len(external.get("data") or "") > 32768:
            raise ApiError(400, "external.data: Must be at most 32768 characters")
        other = self.by_external(gid) if gid else None
        if other is not None and other["gid"] != task["gid"]:
            raise ApiError(400, f"external.gid: Already used by another object: {gid}")
        return {**(task.get("external") or {}), **external}

    def checked_custom_fields(self, values: dict[str, Any]) -> dict[str, Any]:
        for gid, value in values.items():
            field = self.custom_fields.get(gid)
            if field is None:
                raise ApiError(400, f"custom_fields: Not a recognized ID: {gid}")
            kind = field["resource_subtype"]
            options = {o["gid"] for o in field["enum_options"]} if kind == "enum" else set()
            if kind == "enum" and value is not None and value not in options:
                raise ApiError(400, f"custom_fields.{gid}: Not a valid enum option: {value}")
            if kind == "text" and value is not None and not isinstance(value, str):
                raise ApiError(400, f"custom_fields.{gid}: Not a string")
        return dict(values)

    def set_completed(self, task: dict[str, Any], completed: bool) -> None:
        if completed and not task["completed"]:
            task["completed_at"] = now_iso()
        elif not completed:
            task["completed_at"] = None
        task["completed"] = completed

    def first_section(self, project_gid: str) -> str | None:
        return next((g for g, s in self.sections.items() if s["project"] == project_gid), None)

    def add_to_project(self, task: dict[str, Any], project: str, section: str | None) -> None:
        """`POST /tasks/{gid}/addProject`: add the task to a project, or move it to `section` in it."""
        if project not in self.projects:
            raise ApiError(400, f"project: Not a recognized ID: {project}")
        if section is not None and self.sections.get(section, {}).get("project") != project:
            raise ApiError(400, f"section: Not a recognized ID: {section}")
        for membership in task["memberships"]:
            if membership["project"] == project:
                membership["section"] = section or membership["section"]
                break
        else:
            membership = {"project": project, "section": section or self.first_section(project)}
            task["memberships"].append(membership)
            self.events.added(task, "project", project)
        task["modified_at"] = now_iso()


def _strip_tags(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", "", html))
