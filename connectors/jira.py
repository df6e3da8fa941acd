"""JIRA: one issue per ticket, one sub-task per action item, through the `jira` library.

Where a JIRA value comes from, in one place: summary ← title; description ← the ticket's
description, facts and link in wiki markup; priority ← `priority_map`; labels ← the marker
label `cogny-<ticket id>` plus `labels`; status ← `done_transition` / `dismissed_transition`
when the ticket is completed / dismissed.

The marker label is what `find` searches when the store has no (or an unfinished) link. JQL
search lags behind writes on JIRA Cloud, so the engine trusts the store first and the label
second; children are recovered from the parent's `subtasks` field, which does not lag.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from syncd.config import http_url
from syncd import redact, render
from syncd.templates import FieldValue, Renderer, TemplateSource, context, identity, mapped_assignee, render_values
from syncd.connector import Check, Desired, ExternalRef
from syncd.errors import ConnectorError
from syncd.http import RetryPolicy, requests_adapter
from syncd.models import Ticket
from syncd.reconcile import PartialItems

log = structlog.get_logger("syncd.connectors.jira")
BULK_LIMIT = 50  # JIRA's issue/bulk accepts at most 50 issues per call
DEFAULT_PRIORITIES = {"critical": "Highest", "high": "High", "medium": "Medium", "low": "Low"}


class JiraSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str
    email: str | None = None
    api_token: SecretStr | None = None
    token: SecretStr | None = Field(None, description="Server/Data Center personal access token")
    project: str
    issue_type: str = "Task"
    subtask_type: str = "Sub-task"
    priority_map: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_PRIORITIES))
    labels: list[str] = Field(default_factory=list)
    done_transition: str = "Done"
    dismissed_transition: str | None = None
    reopen_transition: str = "To Do"
    fields: dict[str, FieldValue] = Field(default_factory=dict, description=(
        "extra fields by id or display name; string values may be templates, e.g. "
        "{'Story Points': '{{ ticket.effort | map_value(effort_map) }}'}"))
    template: dict[Literal["title", "description"], TemplateSource] = Field(default_factory=dict)
    effort_map: dict[str, Any] = Field(default_factory=dict, description="for templates: map_value(effort_map)")
    category_map: dict[str, list[str]] = Field(default_factory=dict, description="category -> extra labels")
    assignee_map: dict[str, str] = Field(default_factory=dict, description="Cogny user id -> JIRA accountId")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return http_url(v)

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: list[str]) -> list[str]:
        _check_labels(v)
        return v

    @field_validator("category_map")
    @classmethod
    def _category_labels(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for labels in v.values():
            _check_labels(labels)
        return v

    @model_validator(mode="after")
    def _auth(self) -> "JiraSettings":
        if self.token is None and (self.email is None or self.api_token is None):
            raise ValueError("set email + api_token (JIRA Cloud) or token (Server/Data Center PAT)")
        missing = sorted(set(DEFAULT_PRIORITIES) - set(self.priority_map))
        if missing:
            raise ValueError(f"priority_map: no JIRA priority for {', '.join(missing)}")
        return self


class JiraConnector:
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
        self.templates = Renderer("jira", settings.template, {"description": (escape_wiki, identity)})
        self._field_ids: dict[str, str] | None = None  # display name (lower-cased) -> field id, fetched once

    # -- rendering (pure) ----------------------------------------------------------------
    def render(self, ticket: Ticket) -> Desired:
        s = self.settings
        ctx = self._context(ticket)
        title = self.templates.render("title", ctx) if self.templates.has("title") else ticket.title
        record = {
            "summary": _summary(title),
            "description": clip_description(self.templates.render("description", ctx).strip(), ticket.url),
            "priority": s.priority_map.get(ticket.priority, s.priority_map["medium"]),
            "labels": sorted({render.marker_label(ticket.id), *s.labels, *s.category_map.get(ticket.category, [])}),
            "status": _status(ticket.status),
            "fields": {k: render_values(self.templates, v, ctx, k) for k, v in s.fields.items()},
        }
        known, account = mapped_assignee(ticket, s.assignee_map)
        if known:  # absent unless configured (hashes of records rendered before stay) and known
            record["assignee"] = {"accountId": account} if account else None
        items = {
            item.title: {"summary": _summary(item.title),
                         "description": escape_wiki(render.item_detail(item)),
                         "completed": item.completed or ticket.status == "completed"}
            for item in ticket.action_items
        }
        return Desired(record, items)

    def _context(self, ticket: Ticket) -> dict[str, Any]:
        s = self.settings
        return context(ticket, effort_map=s.effort_map, category_map=s.category_map,
                       priority_map=s.priority_map, assignee_map=s.assignee_map)

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
        issue = self._call("create issue", lambda j: j.create_issue(fields=fields, prefetch=False))
        ref = self._ref(issue.id, issue.key)
        log.info("jira issue created", external_key=ref.key)
        self._move_to(ref, desired.record["status"], None)
        return ref

    def update(self, ref: ExternalRef, ticket: Ticket, desired: Desired, previous: Desired | None) -> ExternalRef:
        old = previous.record if previous else {}
        fields = self._issue_fields(desired.record, old if previous else None)
        if fields:
            self._put(ref, fields)
            log.info("jira issue updated", external_key=ref.key, fields=sorted(fields))
        if previous is None or old.get("status") != desired.record["status"]:
            self._move_to(ref, desired.record["status"], old.get("status"))
        return ref

    def create_items(self, ref: ExternalRef, ticket: Ticket, items: dict[str, dict[str, Any]]) -> dict[str, ExternalRef]:
        created: dict[str, ExternalRef] = {}
        keys = list(items)
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
            if items[key]["completed"]:
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
        return checks

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

    def _subtask_fields(self, parent: ExternalRef, item: dict[str, Any]) -> dict[str, Any]:
        return {"project": {"key": self.settings.project}, "issuetype": {"name": self.settings.subtask_type},
                "parent": {"key": parent.key}, "summary": item["summary"], "description": item["description"]}

    def _put(self, ref: ExternalRef, fields: dict[str, Any]) -> None:
        def put(j: Any) -> None:
            j._session.put(j._get_url(f"issue/{ref.key or ref.id}"), data=json.dumps({"fields": fields}))
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
            client = JIRA(server=s.url, max_retries=0, timeout=self.policy.timeout,
                          options={"check_update": False}, **auth)
        except JIRAError as exc:
            raise _error(exc, "connect") from None
        except Exception as exc:
            raise ConnectorError("jira", f"cannot reach {s.url}: {type(exc).__name__}", retryable=True) from None
        adapter = requests_adapter("jira", self.policy)
        client._session.mount("https://", adapter)
        client._session.mount("http://", adapter)
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



def _check_labels(labels: list[str]) -> None:
    bad = [label for label in labels if not label or re.search(r"\s", label)]
    if bad:
        raise ValueError(f"JIRA labels cannot be empty or contain spaces: {bad}")


def _summary(title: str) -> str:
    """JIRA summaries are one line of at most 255 characters."""
    one_line = " ".join(title.split())
    return one_line if len(one_line) <= 255 else one_line[:254] + "…"


_WIKI_SPECIAL = re.compile(r"([\\{}\[\]|*_+^~!?#-])")


_WIKI_LINE_START = re.compile(r"^(\s*)(h[1-6]|bq)\.", flags=re.M)
DESCRIPTION_LIMIT = 32_767  # JIRA refuses longer text fields ("The entered text is too long")


def escape_wiki(text: str) -> str:
    """Make user text inert in JIRA wiki markup (no links, macros, formatting, mentions or headings)."""
    return _WIKI_LINE_START.sub(r"\1\2\\.", _WIKI_SPECIAL.sub(r"\\\1", text))


def clip_description(text: str, url: str) -> str:
    """Keep a description within JIRA's limit, ending with where to read the rest."""
    if len(text) <= DESCRIPTION_LIMIT:
        return text
    tail = f"\n\n… (truncated: the full text is in the Cogny ticket {url})"
    return text[:DESCRIPTION_LIMIT - len(tail)] + tail


def render_description(ticket: Ticket) -> str:
    """The issue description in wiki markup; ticket text is escaped, our structure is not."""
    lines = [escape_wiki(ticket.description), ""]
    lines += [f"*{label}:* {escape_wiki(value)}" for label, value in render.facts(ticket)]
    data = render.supporting(ticket)
    if data:
        lines += ["", "h4. Supporting data"]
        lines += [f"* {escape_wiki(k)}: {escape_wiki(v)}" for k, v in data]
    if ticket.action_items:
        lines += ["", "h4. Action items (one sub-task each)"]
        lines += [f"* {escape_wiki(i.title)}" for i in ticket.action_items]
    if ticket.url:
        lines += ["", f"Source: [Cogny ticket {escape_wiki(ticket.id)}|{ticket.url}]"]
    return "\n".join(lines).strip()
