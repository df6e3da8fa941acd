"""JIRA: one issue per ticket, one sub-task per action item, through the `jira` library.

Where a JIRA value comes from, in one place: summary ← title; description ← the ticket's
description, facts and link in wiki markup; priority ← `priority_map`; labels ← the marker
label `cogny-<ticket id>` plus `labels` plus the category's `category_map` labels; components ←
the category's `category_map` components (by name, resolved to ids once through the project's
component list; only ours are added and removed, people's stay); status ← `done_transition` /
`dismissed_transition` when the ticket is completed / dismissed.

The marker label is what `find` searches when the store has no (or an unfinished) link. JQL
search lags behind writes on JIRA Cloud, so the engine trusts the store first and the label
second; children are recovered from the parent's `subtasks` field, which does not lag.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import structlog

from connectors.jira_settings import DEFAULT_PRIORITIES, JiraCategory, JiraSettings
from connectors.syncback_common import SyncsBack
from connectors.jira_text import (DESCRIPTION_LIMIT, clip_description, escape_wiki, one_line_summary,
                                  render_description)
from syncd import redact, render
from syncd.mapping import adopt_children
from syncd.templates import Renderer, check_unique_titles, identity, render_fields
from syncd.connector import Check, Desired, ExternalRef
from syncd.errors import ConnectorError
from syncd.http import RetryPolicy, requests_adapter
from syncd.models import ActionItem, Ticket
from syncd.reconcile import PartialItems

__all__ = ["DEFAULT_PRIORITIES", "DESCRIPTION_LIMIT", "JiraCategory", "JiraConnector", "JiraSettings",
           "clip_description", "escape_wiki", "render_description"]
log = structlog.get_logger("syncd.connectors.jira")
BULK_LIMIT = 50  # JIRA's issue/bulk accepts at most 50 issues per call


class JiraConnector(SyncsBack):
    type = "jira"
    label = "JIRA"
    Settings = JiraSettings

    def __init__(self, name: str, settings: JiraSettings, *, policy: RetryPolicy | None = None):
        self.name = name
        self.settings = settings
        self.policy = policy or RetryPolicy()
        self._client: Any = None
        self._client_lock = threading.Lock()
        if settings.email and settings.api_token:
            redact.register_basic_auth(settings.email, settings.api_token.get_secret_value())
        self.templates = Renderer("jira", settings.template, {"description": (escape_wiki, identity),
                                                              "item_description": (escape_wiki, identity)})
        self._field_ids: dict[str, str] | None = None  # display name (lower-cased) -> field id, fetched once
        self._component_list: dict[str, tuple[str, str]] | None = None  # see _components

    # -- rendering (pure) ----------------------------------------------------------------
    def render(self, ticket: Ticket) -> Desired:
        s = self.settings
        # Without templates or `fields:` nothing reads the template context, and the shipped
        # default description template renders exactly `render_description` (held equal byte for
        # byte by tests/test_templates.py and tests/test_properties.py): the built-in path skips
        # both, about half of a render (what a no-op cycle spends per unchanged ticket).
        ctx = self._context(ticket) if self.templates.configured or s.fields else {}
        description = (self.templates.render("description", ctx).strip() if self.templates.has("description")
                       else render_description(ticket))
        category = s.category_map.get(ticket.category) or JiraCategory()
        record = {
            "summary": one_line_summary(self.templates.render_or("title", ctx, ticket.title)),
            "description": clip_description(description, ticket.url),
            "priority": s.priority_map.get(ticket.priority, s.priority_map["medium"]),
            "labels": sorted({render.marker_label(ticket.id), *s.labels, *category.labels}),
            "status": _status(ticket.status),
            "fields": render_fields(self.templates, s.fields, ctx),
        }
        if s.uses_components:  # absent unless configured (hashes of records rendered before stay)
            record["components"] = sorted(set(category.components))
        known, account = s.assignee(ticket)
        if known:  # absent unless configured and known
            record["assignee"] = {"accountId": account} if account else None
        items = {item.title: self._item(ticket, item, ctx) for item in ticket.action_items}
        if self.templates.has("item_title"):
            check_unique_titles("jira.template.item_title", {k: v["summary"] for k, v in items.items()})
        return Desired(record, items)

    def _item(self, ticket: Ticket, item: ActionItem, ctx: dict[str, Any]) -> dict[str, Any]:
        """One sub-task: the built-in summary and description, or the `item_*` templates."""
        title, description = self.templates.render_item(ctx, item, escape_wiki)
        return {"summary": one_line_summary(title), "description": description,
                "completed": item.completed or ticket.status == "completed"}

    def _context(self, ticket: Ticket) -> dict[str, Any]:
        s = self.settings
        categories = {name: c.model_dump() for name, c in s.category_map.items()}
        return s.template_context(ticket, category_map=categories, priority_map=s.priority_map)

    # -- reading ---------------------------------------------------------------------------
    def find(self, ticket: Ticket) -> ExternalRef | None:
        marker = render.marker_label(ticket.id)
        jql = f'project = "{self.settings.project}" AND labels = "{marker}" ORDER BY created ASC'
        issues = self._call("search", lambda j: j.search_issues(jql, maxResults=5, fields="summary"))
        if not issues:
            return None
        if len(issues) > 1:
            log.warning("several issues carry the marker; using the oldest", marker=marker,
                        keys=[i.key for i in issues])
        return self._ref(issues[0].id, issues[0].key)

    def find_items(self, ref: ExternalRef) -> dict[str, ExternalRef]:
        issue = self._call("get issue", lambda j: j.issue(ref.key or ref.id, fields="subtasks"))
        out: dict[str, ExternalRef] = {}
        for sub in getattr(issue.fields, "subtasks", None) or []:
            out.setdefault(sub.fields.summary, self._ref(sub.id, sub.key))
        return out

    # -- writing ---------------------------------------------------------------------------
    def create(self, ticket: Ticket, desired: Desired) -> ExternalRef:
        fields = self._issue_fields(desired.record, None)
        fields.update({"project": {"key": self.settings.project}, "issuetype": {"name": self.settings.issue_type}})
        if desired.record.get("components"):
            fields["components"] = [{"id": cid} for cid in self._component_ids(desired.record["components"], ticket)]
        issue = self._call("create issue", lambda j: j.create_issue(fields=fields, prefetch=False))
        ref = self._ref(issue.id, issue.key)
        log.info("jira issue created", external_key=ref.key)
        self._move_to(ref, desired.record["status"], None)
        return ref

    def update(self, ref: ExternalRef, ticket: Ticket, desired: Desired, previous: Desired | None) -> ExternalRef:
        old = previous.record if previous else {}
        fields = self._issue_fields(desired.record, old if previous else None)
        components = self._component_changes(desired.record, old if previous else None, ticket)
        if fields or components:
            self._put(ref, fields, {"components": components} if components else None)
            log.info("jira issue updated", external_key=ref.key,
                     fields=sorted(fields) + (["components"] if components else []))
        if previous is None or old.get("status") != desired.record["status"]:
            self._move_to(ref, desired.record["status"], old.get("status"))
        return ref

    def create_items(self, ref: ExternalRef, ticket: Ticket, items: dict[str, dict[str, Any]]) -> dict[str, ExternalRef]:
        adopted = adopt_children(self, ref, items, "summary") if self.templates.has("item_title") else {}
        created = dict(adopted)
        keys = [k for k in items if k not in adopted]
        for start in range(0, len(keys), BULK_LIMIT):
            chunk = keys[start:start + BULK_LIMIT]
            payload = [self._subtask_fields(ref, items[k]) for k in chunk]
            try:
                results = self._call("bulk create sub-tasks", lambda j: j.create_issues(payload, prefetch=False))
            except ConnectorError as exc:
                raise PartialItems(created, exc) from None
            errors = []
            for key, res in zip(chunk, results):
                if res["status"] == "Success":
                    created[key] = self._ref(res["issue"].id, res["issue"].key)
                else:
                    errors.append(f"{key!r}: {res['error']}")
            log.info("jira sub-tasks created", parent=ref.key, count=len(chunk) - len(errors))
            if errors:
                raise PartialItems(created, ConnectorError("jira", "sub-task rejected: " + "; ".join(errors)))
        for key, sub in created.items():
            if items[key]["completed"] and key not in adopted:  # adopted ones were brought up to date
                self._move_to(sub, "done", None)
        return created

    def update_item(self, ref: ExternalRef, item_ref: ExternalRef, item: dict[str, Any],
                    previous: dict[str, Any] | None) -> None:
        fields = {k: item[k] for k in ("summary", "description") if previous is None or previous.get(k) != item[k]}
        if fields:
            self._put(item_ref, fields)
            log.info("jira sub-task updated", external_key=item_ref.key, fields=sorted(fields))
        if previous is None or previous.get("completed") != item["completed"]:
            self._move_to(item_ref, "done" if item["completed"] else "open",
                          None if previous is None else ("done" if previous.get("completed") else "open"))

    def check(self) -> list[Check]:
        checks = []
        try:
            me = self._call("myself", lambda j: j.myself())
            checks.append(Check("jira credentials", True, f"authenticated as {me.get('displayName') or me.get('name')}"))
        except ConnectorError as exc:
            return [Check("jira credentials", False, str(exc), "check url, email and api_token (or token)")]
        try:
            project = self._call("project", lambda j: j.project(self.settings.project))
            types = {t.name for t in getattr(project, "issueTypes", [])}
            checks.append(Check(f"jira project {self.settings.project}", True, project.name))
            for wanted in (self.settings.issue_type, self.settings.subtask_type):
                checks.append(Check(f"jira issue type {wanted!r}", wanted in types, "" if wanted in types else
                                    f"available: {', '.join(sorted(types))}", "set issue_type / subtask_type"))
        except ConnectorError as exc:
            checks.append(Check(f"jira project {self.settings.project}", False, str(exc), "check `project`"))
        try:
            names = {p.name for p in self._call("priorities", lambda j: j.priorities())}
            bad = sorted(set(self.settings.priority_map.values()) - names)
            checks.append(Check("jira priorities", not bad, f"unknown: {bad}" if bad else "all mapped priorities exist",
                                f"available: {', '.join(sorted(names))}; fix priority_map"))
        except ConnectorError as exc:
            checks.append(Check("jira priorities", False, str(exc)))
        if self.settings.uses_components:
            checks.append(self._check_components())
        return checks

    def _check_components(self) -> Check:
        """Every component `category_map` names exists in the project (each unknown one named with its key)."""
        try:
            known = self._components()
        except ConnectorError as exc:
            return Check("jira components", False, str(exc), "check `project` and the browse permission")
        unknown = [f"connectors.{self.name}.category_map.{cat}.components: no component {name!r} in project "
                   f"{self.settings.project}" for cat, entry in self.settings.category_map.items()
                   for name in entry.components if name.casefold() not in known]
        listed = ", ".join(sorted(name for _, name in known.values())) or "none"
        return Check("jira components", not unknown, "; ".join(unknown) or "all mapped components exist",
                     f"components of {self.settings.project}: {listed}; fix category_map or add them in JIRA")

    def _new_sync_back_source(self) -> Any:
        from connectors.jira_syncback import JiraSyncBack
        return JiraSyncBack(self, canceled_resolutions=self.settings.canceled_resolutions)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    # -- plumbing --------------------------------------------------------------------------
    def _issue_fields(self, record: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
        """The fields to send: all of them (`old` None) or those that differ from `old`, by field id."""
        out: dict[str, Any] = {k: record[k] for k in ("summary", "description", "labels")
                               if old is None or old.get(k) != record[k]}
        if old is None or old.get("priority") != record["priority"]:
            out["priority"] = {"name": record["priority"]}
        if "assignee" in record and (record["assignee"] if old is None else old.get("assignee") != record["assignee"]):
            out["assignee"] = record["assignee"]
        before = (old or {}).get("fields", {})
        for key, value in record["fields"].items():
            if old is None or key not in before or before[key] != value:
                out[self._field_id(key)] = value
        return out

    def _field_id(self, key: str) -> str:
        """A `fields:` key as a JIRA field id: ids pass; display names resolve through GET field, once."""
        if key in _SYSTEM_IDS or key.startswith("customfield_"):
            return key
        with self._client_lock:
            known = self._field_ids
        if known is None:
            listing = self._call("list fields", lambda j: j.fields())
            known = {str(f["name"]).casefold(): str(f["id"]) for f in listing}
            known.update({str(f["id"]).casefold(): str(f["id"]) for f in listing})
            with self._client_lock:
                self._field_ids = known
        if key.casefold() not in known:
            raise ConnectorError("jira", f"fields: no JIRA field named {key!r} (check the name in "
                                         f"JIRA's field list, or use its id, e.g. customfield_10016)")
        return known[key.casefold()]

    def _component_changes(self, record: dict[str, Any], old: dict[str, Any] | None,
                           ticket: Ticket) -> list[dict[str, Any]]:
        """`update.components` ops taking ours from `old` to `record`: people's components stay.

        `old` None (an adopted issue): only adds. A component that vanished from JIRA is not removed.
        """
        if "components" not in record:
            return []
        before = set((old or {}).get("components", []))
        added = [n for n in record["components"] if n not in before]
        gone = sorted(before - set(record["components"])) if old is not None else []
        known = self._components()
        ops = [{"add": {"id": cid}} for cid in self._component_ids(added, ticket)]
        return ops + [{"remove": {"id": known[n.casefold()][0]}} for n in gone if n.casefold() in known]

    def _component_ids(self, names: list[str], ticket: Ticket) -> list[str]:
        """Component names as ids; an unknown name fails this ticket, naming the config key."""
        known = self._components()
        missing = [n for n in names if n.casefold() not in known]
        if missing:
            listed = ", ".join(sorted(name for _, name in known.values())) or "none"
            raise ConnectorError("jira", f"connectors.{self.name}.category_map.{ticket.category}.components: no "
                                         f"component {missing[0]!r} in project {self.settings.project} "
                                         f"(components: {listed})")
        return [known[n.casefold()][0] for n in names]

    def _components(self) -> dict[str, tuple[str, str]]:
        """The project's components, case-folded name -> (id, name); listed once per process."""
        with self._client_lock:
            known = self._component_list
        if known is None:
            listing = self._call("list components", lambda j: j.project_components(self.settings.project))
            known = {str(c.name).casefold(): (str(c.id), str(c.name)) for c in listing}
            with self._client_lock:
                self._component_list = known
        return known

    def _subtask_fields(self, parent: ExternalRef, item: dict[str, Any]) -> dict[str, Any]:
        return {"project": {"key": self.settings.project}, "issuetype": {"name": self.settings.subtask_type},
                "parent": {"key": parent.key}, "summary": item["summary"], "description": item["description"]}

    def _put(self, ref: ExternalRef, fields: dict[str, Any], update: dict[str, Any] | None = None) -> None:
        body = {"fields": fields, **({"update": update} if update else {})}

        def put(j: Any) -> None:
            j._session.put(j._get_url(f"issue/{ref.key or ref.id}"), data=json.dumps(body))
        self._call("edit issue", put)

    def _move_to(self, ref: ExternalRef, status: str, previous: str | None) -> None:
        """Transition when the wanted status category differs from what we last applied."""
        target = {"done": self.settings.done_transition,
                  "dismissed": self.settings.dismissed_transition or self.settings.done_transition,
                  "open": self.settings.reopen_transition}[status]
        if previous is None and status == "open":
            return  # a new issue starts open; an adopted one is left where people put it
        if previous == status:
            return
        key = ref.key or ref.id
        transitions = self._call("transitions", lambda j: j.transitions(key))
        match = next((t for t in transitions if t["name"].lower() == target.lower()
                      or t.get("to", {}).get("name", "").lower() == target.lower()), None)
        if match is None:
            current = self._call("get issue", lambda j: j.issue(key, fields="status")).fields.status.name
            if current.lower() == target.lower() or (status != "open" and current.lower() in ("done", "closed")):
                return
            names = ", ".join(t["name"] for t in transitions) or "none"
            raise ConnectorError("jira", f"{key}: no transition {target!r} (available: {names})")
        self._call("transition", lambda j: j.transition_issue(key, match["id"]))
        log.info("jira issue transitioned", external_key=key, transition=match["name"])

    def _ref(self, issue_id: Any, key: str) -> ExternalRef:
        return ExternalRef(str(issue_id), key, f"{self.settings.url}/browse/{key}")

    def _jira(self) -> Any:
        with self._client_lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _connect(self) -> Any:
        from jira import JIRA, JIRAError

        s = self.settings
        auth: dict[str, Any] = ({"token_auth": s.token.get_secret_value()} if s.token else
                                {"basic_auth": (s.email, s.api_token.get_secret_value())})  # type: ignore[union-attr]
        try:
            client = JIRA(server=s.url, max_retries=0, timeout=self.policy.timeout, get_server_info=False,
                          options={"check_update": False}, **auth)
            adapter = requests_adapter("jira", self.policy)
            client._session.mount("https://", adapter)
            client._session.mount("http://", adapter)
            info = client.server_info()  # what JIRA() asks first, asked here through the shared retry policy
            client._version = tuple(info["versionNumbers"])  # the library picks endpoints by version ...
            client.deploymentType = info.get("deploymentType")  # ... and by Cloud vs Server
        except JIRAError as exc:
            raise _error(exc, "connect") from None
        except Exception as exc:
            raise ConnectorError("jira", f"cannot reach {s.url}: {type(exc).__name__}", retryable=True) from None
        return client

    def _call(self, what: str, fn: Any) -> Any:
        from jira import JIRAError
        import requests

        try:
            return fn(self._jira())
        except JIRAError as exc:
            raise _error(exc, what) from None
        except requests.RequestException as exc:
            raise ConnectorError("jira", f"{what}: {type(exc).__name__}", retryable=True) from None

    def find_many(self, tickets: list[Ticket]) -> dict[str, ExternalRef | None]:
        """`find` for many tickets: one `labels in (...)` search per 100 markers (one listing page).

        Every page of hits is read, and labels compare as JQL compares them (ignoring case), so a
        ticket without a hit has no issue, exactly as `find` would say; the oldest issue wins.
        """
        chunk_size = 100  # markers per search, sent in a POST body: no URL length limit
        markers = {render.marker_label(t.id): t.id for t in tickets}
        by_folded: dict[str, list[str]] = {}
        for marker in markers:
            by_folded.setdefault(marker.lower(), []).append(marker)
        out: dict[str, ExternalRef | None] = {}
        names = list(markers)
        for start in range(0, len(names), chunk_size):
            chunk = names[start:start + chunk_size]
            quoted = ", ".join(f'"{m}"' for m in chunk)
            jql = f'project = "{self.settings.project}" AND labels in ({quoted}) ORDER BY created ASC'
            issues = self._call("search", lambda j: j.search_issues(jql, maxResults=False, fields="labels",
                                                                      use_post=True))
            hits: dict[str, ExternalRef] = {}
            for issue in issues:  # oldest first
                for label in getattr(issue.fields, "labels", None) or []:
                    for marker in by_folded.get(str(label).lower(), []):
                        hits.setdefault(marker, self._ref(issue.id, issue.key))
            out.update({markers[m]: hits.get(m) for m in chunk})
        return out


def _error(exc: Any, what: str) -> ConnectorError:
    """JIRAError's str() embeds request headers (credentials): build our own message from the body."""
    status = getattr(exc, "status_code", None)
    detail = ""
    response = getattr(exc, "response", None)
    try:
        body = response.json() if response is not None else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        msgs = list(body.get("errorMessages") or [])
        msgs += [f"{k}: {v}" for k, v in (body.get("errors") or {}).items()]
        detail = "; ".join(msgs)
    if not detail:
        detail = (getattr(exc, "text", "") or "").strip()[:500] or "no details"
    return ConnectorError("jira", f"{what}: {detail}", status=status,
                          retryable=bool(status and (status == 429 or status >= 500)))


def _status(status: str) -> str:
    return {"completed": "done", "dismissed": "dismissed"}.get(status, "open")


_SYSTEM_IDS = frozenset({"summary", "description", "labels", "priority", "assignee", "reporter", "components",
                         "duedate", "fixVersions", "versions", "environment", "parent", "timetracking"})


