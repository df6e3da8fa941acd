"""Linear: one issue per ticket, one sub-issue per action item, over GraphQL with httpx.

Where a Linear value comes from: title ← title; description ← description, facts and link in
Markdown (ticket text escaped); priority ← `priority_map` (0 none, 1 urgent … 4 low); labels ←
`label_ids`; project ← `project_id`; state ← `done_state` / `canceled_state` when the ticket is
completed / dismissed. Marker (DESIGN invariant 1): an attachment with url = the ticket URL
(`attachmentCreate` upserts on issue + url, `attachmentsForURL` finds it). Issues also get a
client-chosen id derived from (team, ticket), sub-issues from (parent, item title), so a crash
between `issueCreate` and `attachmentCreate`, or a timed-out batch, is found again, not duplicated.
The GraphQL documents are the constants in `OPERATIONS`; the tests validate each against the schema.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Literal

import httpx
import structlog
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from syncd.config import http_url
from syncd import redact, render
from syncd.templates import (FieldValue, Raw, Renderer, TemplateSource, context, identity, mapped_assignee,
                             render_values)
from syncd.connector import Check, Desired, ExternalRef
from syncd.errors import ConnectorError, TicketDataError
from syncd.http import RetryPolicy, make_client, retry_after_seconds
from syncd.models import Ticket
from syncd.reconcile import PartialItems

log = structlog.get_logger("syncd.connectors.linear")
DEFAULT_PRIORITIES = {"critical": 1, "high": 2, "medium": 3, "low": 4}
BATCH_LIMIT = 50  # issues per issueBatchCreate (an assumption: Linear documents no figure)
PAGE_SIZE = 100
MAX_PAGES = 20    # bounded paging; 2,000 sub-issues is far beyond any ticket
_ID_NAMESPACE = b"syncd/linear/v1"


@dataclass(frozen=True)
class Operation:
    """One small named GraphQL document. Queries may be retried by the HTTP policy; mutations not."""

    name: str
    document: str
    mutation: bool = False


VIEWER = Operation("Viewer", "query Viewer { viewer { id name email } }")
TEAM_BY_ID = Operation("TeamById", """query TeamById($id: String!) {
  team(id: $id) { id key name states(first: 100) { nodes { id name type position } } } }""")
TEAM_BY_KEY = Operation("TeamByKey", """query TeamByKey($key: String!) {
  teams(filter: {key: {eqIgnoreCase: $key}}, first: 2) {
    nodes { id key name states(first: 100) { nodes { id name type position } } } } }""")
ATTACHMENTS_FOR_URL = Operation("AttachmentsForUrl", """query AttachmentsForUrl($url: String!) {
  attachmentsForURL(url: $url) { nodes { id issue { id identifier url team { id } } } } }""")
ISSUES_BY_ID = Operation("IssuesById", """query IssuesById($ids: [ID!]!, $first: Int!) {
  issues(filter: {id: {in: $ids}}, first: $first, includeArchived: true) { nodes { id identifier url title } } }""")
ISSUE_CHILDREN = Operation("IssueChildren", """query IssueChildren($id: String!, $first: Int!, $after: String) {
  issue(id: $id) { children(first: $first, after: $after) {
    nodes { id identifier url title } pageInfo { hasNextPage endCursor } } } }""")
ISSUE_CREATE = Operation("IssueCreate", """mutation IssueCreate($input: IssueCreateInput!) {
  issueCreate(input: $input) { success issue { id identifier url } } }""", mutation=True)
ISSUE_BATCH_CREATE = Operation("IssueBatchCreate", """mutation IssueBatchCreate($input: IssueBatchCreateInput!) {
  issueBatchCreate(input: $input) { success issues { id identifier url } } }""", mutation=True)
ISSUE_UPDATE = Operation("IssueUpdate", """mutation IssueUpdate($id: String!, $input: IssueUpdateInput!) {
  issueUpdate(id: $id, input: $input) { success issue { id identifier url } } }""", mutation=True)
ATTACHMENT_CREATE = Operation("AttachmentCreate", """mutation AttachmentCreate($input: AttachmentCreateInput!) {
  attachmentCreate(input: $input) { success attachment { id url } } }""", mutation=True)
OPERATIONS = (VIEWER, TEAM_BY_ID, TEAM_BY_KEY, ATTACHMENTS_FOR_URL, ISSUES_BY_ID, ISSUE_CHILDREN,
              ISSUE_CREATE, ISSUE_BATCH_CREATE, ISSUE_UPDATE, ATTACHMENT_CREATE)


class LinearSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_key: SecretStr = Field(description="personal API key (lin_api_…) or OAuth token (lin_oauth_…)")
    team_id: str | None = None
    team_key: str | None = None
    api_url: str = "https://api.linear.app/graphql"
    priority_map: dict[str, Annotated[int, Field(ge=0, le=4)]] = Field(
        default_factory=lambda: dict(DEFAULT_PRIORITIES))
    label_ids: list[str] = Field(default_factory=list)
    project_id: str | None = None
    done_state: str | None = Field(None, description="state name or id; default: the team's first completed state")
    canceled_state: str | None = Field(None, description="for dismissed tickets; default: first canceled state")
    template: dict[Literal["title", "description"], TemplateSource] = Field(default_factory=dict)
    fields: dict[str, FieldValue] = Field(default_factory=dict, description=(
        "extra IssueCreateInput/IssueUpdateInput fields; values may be templates, e.g. "
        "{estimate: '{{ ticket.effort | map_value(effort_map) }}'}"))
    effort_map: dict[str, Any] = Field(default_factory=dict, description="for templates: map_value(effort_map)")
    category_map: dict[str, list[str]] = Field(default_factory=dict, description="category -> extra label ids")
    assignee_map: dict[str, str] = Field(default_factory=dict, description="Cogny user id -> Linear user id")

    @field_validator("api_url")
    @classmethod
    def _url(cls, v: str) -> str:
        return http_url(v)

    @model_validator(mode="after")
    def _team_and_priorities(self) -> "LinearSettings":
        if (self.team_id is None) == (self.team_key is None):
            raise ValueError("set exactly one of team_id or team_key")
        missing = sorted(set(DEFAULT_PRIORITIES) - set(self.priority_map))
        if missing:
            raise ValueError(f"priority_map: no Linear priority for {', '.join(missing)}")
        return self


@dataclass(frozen=True)
class Team:
    """The configured team and its workflow states ({id, name, type, position}, by position)."""

    id: str
    key: str
    name: str
    states: tuple[dict[str, Any], ...]


class LinearConnector:
    type = "linear"
    label = "Linear"
    Settings = LinearSettings

    def __init__(self, name: str, settings: LinearSettings, *, policy: RetryPolicy | None = None,
                 transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep):
        self.name = name
        self.settings = settings
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        key = settings.api_key.get_secret_value()
        redact.register(key)
        self._client = make_client("linear", "", self.policy, transport=transport,
                                   headers={"Authorization": auth_header(key)})
        self._team: Team | None = None
        self._team_lock = threading.Lock()
        self.templates = Renderer("linear", settings.template, {"description": (escape_markdown, identity)})

    # -- rendering (pure) ----------------------------------------------------------------
    def render(self, ticket: Ticket) -> Desired:
        s = self.settings
        ctx = context(ticket, effort_map=s.effort_map, category_map=s.category_map, priority_map=s.priority_map,
                      assignee_map=s.assignee_map, source_link=Raw(_link(f"Cogny ticket {ticket.id}", ticket.url)))
        title = self.templates.render("title", ctx) if self.templates.has("title") else ticket.title
        record = {
            "title": _title(title),
            "description": self.templates.render("description", ctx).strip(),
            "priority": s.priority_map.get(ticket.priority, s.priority_map["medium"]),
            "labelIds": sorted({*s.label_ids, *s.category_map.get(ticket.category, [])}),
            "projectId": s.project_id,
            "status": {"completed": "done", "dismissed": "canceled"}.get(ticket.status, "open"),
        }
        known, user = mapped_assignee(ticket, s.assignee_map)
        if known:  # absent unless configured (hashes of records rendered before stay) and known
            record["assigneeId"] = user
        if s.fields:  # likewise absent unless configured
            record["fields"] = {k: render_values(self.templates, v, ctx, k) for k, v in s.fields.items()}
        items = {item.title: {"title": _title(item.title),
                              "description": escape_markdown(render.item_detail(item)),
                              "completed": item.completed or ticket.status == "completed"}
                 for item in ticket.action_items}
        return Desired(record, items)

    # -- reading ---------------------------------------------------------------------------
    def find(self, ticket: Ticket) -> ExternalRef | None:
        team = self.team()
        nodes = self._execute(ATTACHMENTS_FOR_URL, {"url": marker_url(ticket)})["attachmentsForURL"]["nodes"]
        issues = [n["issue"] for n in nodes if n["issue"]["team"]["id"] == team.id]
        if len(issues) > 1:
            log.warning("several issues carry the marker; using the first", keys=[i["identifier"] for i in issues])
        if issues:
            return _ref(issues[0])
        found = self._issues_by_id([issue_id(team.id, ticket.id)])
        return _ref(found[0]) if found else None

    def find_items(self, ref: ExternalRef) -> dict[str, ExternalRef]:
        out: dict[str, ExternalRef] = {}
        after: str | None = None
        for _ in range(MAX_PAGES):
            variables = {"id": ref.id, "first": PAGE_SIZE, "after": after}
            page = self._execute(ISSUE_CHILDREN, variables)["issue"]["children"]
            for child in page["nodes"]:
                out.setdefault(child["title"], _ref(child))
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        return out

    # -- writing ---------------------------------------------------------------------------
    def create(self, ticket: Ticket, desired: Desired) -> ExternalRef:
        team, record = self.team(), desired.record
        fields: dict[str, Any] = {"id": issue_id(team.id, ticket.id), "teamId": team.id, "title": record["title"],
                                  "description": record["description"], "priority": record["priority"]}
        if record["labelIds"]:
            fields["labelIds"] = record["labelIds"]
        if record["projectId"]:
            fields["projectId"] = record["projectId"]
        if record.get("assigneeId"):
            fields["assigneeId"] = record["assigneeId"]
        fields.update({k: v for k, v in record.get("fields", {}).items() if v is not None})
        if record["status"] != "open":
            fields["stateId"] = self._state_for(record["status"])["id"]
        ref = _ref(self._mutate(ISSUE_CREATE, {"input": fields}, "issueCreate", "issue"))
        log.info("linear issue created", external_key=ref.key)
        self._stamp(ref, ticket)
        return ref

    def update(self, ref: ExternalRef, ticket: Ticket, desired: Desired, previous: Desired | None) -> ExternalRef:
        old = previous.record if previous else None
        changes = self._record_changes(old, desired.record)
        if changes:
            ref = _ref(self._mutate(ISSUE_UPDATE, {"id": ref.id, "input": changes}, "issueUpdate", "issue"))
            log.info("linear issue updated", external_key=ref.key, fields=sorted(changes))
        if old is None:  # adopted (found by marker or derived id): make sure the marker is there
            self._stamp(ref, ticket)
        return ref

    def create_items(self, ref: ExternalRef, ticket: Ticket,
                     items: dict[str, dict[str, Any]]) -> dict[str, ExternalRef]:
        team = self.team()
        ids = {key: item_id(ref.id, key) for key in items}
        try:  # sub-issues an interrupted earlier attempt made: derived ids find them exactly
            existing = {i["id"]: _ref(i) for i in self._issues_by_id(list(ids.values()))}
        except ConnectorError as exc:
            raise PartialItems({}, exc) from None
        created = {key: existing[ids[key]] for key in items if ids[key] in existing}
        todo = [key for key in items if key not in created]
        for start in range(0, len(todo), BATCH_LIMIT):
            chunk = todo[start:start + BATCH_LIMIT]
            batch = [self._child_fields(team, ref, ids[key], items[key]) for key in chunk]
            try:
                made = self._mutate(ISSUE_BATCH_CREATE, {"input": {"issues": batch}}, "issueBatchCreate", "issues")
            except ConnectorError as exc:
                raise PartialItems(created, exc) from None
            by_id = {i["id"]: _ref(i) for i in made}
            created.update({key: by_id[ids[key]] for key in chunk if ids[key] in by_id})
            log.info("linear sub-issues created", parent=ref.key, count=len(by_id))
            missing = [key for key in chunk if ids[key] not in by_id]
            if missing:
                raise PartialItems(created, ConnectorError("linear", f"sub-issues missing from the answer: {missing}"))
        return created

    def update_item(self, ref: ExternalRef, item_ref: ExternalRef, item: dict[str, Any],
                    previous: dict[str, Any] | None) -> None:
        changes = {k: item[k] for k in ("title", "description") if previous is None or previous.get(k) != item[k]}
        was = None if previous is None else bool(previous.get("completed"))
        if was != item["completed"] and (was is not None or item["completed"]):
            changes["stateId"] = self._state_for("done" if item["completed"] else "open")["id"]
        if changes:
            self._mutate(ISSUE_UPDATE, {"id": item_ref.id, "input": changes}, "issueUpdate", "issue")
            log.info("linear sub-issue updated", external_key=item_ref.key, fields=sorted(changes))

    def check(self) -> list[Check]:
        try:
            me = self._execute(VIEWER, {})["viewer"]
            checks = [Check("linear credentials", True, f"authenticated as {me['name']}")]
        except ConnectorError as exc:
            return [Check("linear credentials", False, str(exc), "check api_key (and api_url)")]
        wanted = self.settings.team_key or self.settings.team_id
        try:
            team = self.team()
            checks.append(Check(f"linear team {wanted}", True, f"{team.key}: {team.name}"))
        except ConnectorError as exc:
            return checks + [Check(f"linear team {wanted}", False, str(exc), "check team_id / team_key")]
        try:
            done, canceled = self._state_for("done"), self._state_for("canceled")
            detail = f"done → {done['name']}, dismissed → {canceled['name']}"
            checks.append(Check("linear workflow states", True, detail))
        except ConnectorError as exc:
            checks.append(Check("linear workflow states", False, str(exc), "set done_state / canceled_state"))
        return checks

    def close(self) -> None:
        self._client.close()

    # -- team and states -------------------------------------------------------------------
    def team(self) -> Team:
        """The configured team with its workflow states; looked up once, then cached."""
        with self._team_lock:
            if self._team is None:
                self._team = self._load_team()
            return self._team

    def _load_team(self) -> Team:
        s = self.settings
        if s.team_id:
            node = self._execute(TEAM_BY_ID, {"id": s.team_id})["team"]
        else:
            nodes = self._execute(TEAM_BY_KEY, {"key": s.team_key})["teams"]["nodes"]
            if not nodes:
                raise ConnectorError("linear", f"team_key {s.team_key!r}: no such team visible to this api_key")
            node = nodes[0]
        states = sorted(node["states"]["nodes"], key=lambda st: st["position"])
        return Team(node["id"], node["key"], node["name"], tuple(states))

    def _state_for(self, status: str) -> dict[str, Any]:
        """The state for `done` / `canceled` (configured, else first of that type) or `open` (reopen)."""
        team = self.team()
        configured = {"done": self.settings.done_state, "canceled": self.settings.canceled_state}.get(status)
        if configured:
            match = next((st for st in team.states if st["id"] == configured
                          or st["name"].casefold() == configured.casefold()), None)
            if match is None:
                names = ", ".join(st["name"] for st in team.states)
                raise ConnectorError("linear", f"{status}_state {configured!r} is not a state of team "
                                               f"{team.key} (states: {names})")
            return match
        kinds = {"done": ("completed",), "canceled": ("canceled",), "open": ("unstarted", "backlog")}[status]
        for kind in kinds:
            match = next((st for st in team.states if st["type"] == kind), None)
            if match is not None:
                return match
        raise ConnectorError("linear", f"team {team.key} has no workflow state of type {' or '.join(kinds)}")

    # -- plumbing --------------------------------------------------------------------------
    def _record_changes(self, old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
        """The IssueUpdateInput taking the issue from `old` (None: unknown, adopted) to `new`."""
        changes = {k: new[k] for k in ("title", "description", "priority") if old is None or old.get(k) != new[k]}
        if new["projectId"] if old is None else old.get("projectId") != new["projectId"]:
            changes["projectId"] = new["projectId"]
        if "assigneeId" in new and (new["assigneeId"] if old is None else old.get("assigneeId") != new["assigneeId"]):
            changes["assigneeId"] = new["assigneeId"]
        before = (old or {}).get("fields", {})
        changes.update({k: v for k, v in new.get("fields", {}).items()
                        if (v is not None if old is None else before.get(k) != v)})
        before = set(old.get("labelIds", [])) if old else set()
        if added := set(new["labelIds"]) - before:  # add/remove only ours: people's labels stay
            changes["addedLabelIds"] = sorted(added)
        if removed := before - set(new["labelIds"]):
            changes["removedLabelIds"] = sorted(removed)
        was = old.get("status") if old else None
        if new["status"] != was and not (was is None and new["status"] == "open"):
            changes["stateId"] = self._state_for(new["status"])["id"]
        return changes

    def _child_fields(self, team: Team, parent: ExternalRef, child_id: str, item: dict[str, Any]) -> dict[str, Any]:
        fields: dict[str, Any] = {"id": child_id, "teamId": team.id, "parentId": parent.id,
                                  "title": item["title"], "description": item["description"]}
        if self.settings.project_id:
            fields["projectId"] = self.settings.project_id
        if item["completed"]:
            fields["stateId"] = self._state_for("done")["id"]
        return fields

    def _stamp(self, ref: ExternalRef, ticket: Ticket) -> None:
        """Upsert the marker attachment (same issue + url updates the existing one)."""
        fields = {"issueId": ref.id, "url": marker_url(ticket), "title": f"Cogny ticket {ticket.id}",
                  "metadata": {"ticketId": ticket.id}}
        self._mutate(ATTACHMENT_CREATE, {"input": fields}, "attachmentCreate", "attachment")
        log.info("linear marker attached", external_key=ref.key)

    def _issues_by_id(self, ids: list[str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for start in range(0, len(ids), PAGE_SIZE):
            chunk = ids[start:start + PAGE_SIZE]
            found += self._execute(ISSUES_BY_ID, {"ids": chunk, "first": len(chunk)})["issues"]["nodes"]
        return found

    def _mutate(self, op: Operation, variables: dict[str, Any], field: str, result: str) -> Any:
        """Run a mutation; `success: false` or a missing result is an error, not a quiet no-op."""
        payload = self._execute(op, variables).get(field) or {}
        if not payload.get("success") or not payload.get(result):
            raise ConnectorError("linear", f"{op.name}: Linear answered success: false")
        return payload[result]

    def _execute(self, op: Operation, variables: dict[str, Any]) -> dict[str, Any]:
        """POST one operation and return its `data`; RATELIMITED (HTTP 400 or 200) waits and retries.

        Retrying a rate-limited mutation is safe: Linear refused it without applying anything.
        """
        for attempt in range(1, self.policy.max_attempts + 1):
            response, body = self._post(op, variables)
            errors = body.get("errors") or []
            if not any(error_code(e) == "RATELIMITED" for e in errors):
                break
            if attempt < self.policy.max_attempts:
                delay = self._rate_limit_delay(attempt, response)
                log.warning("linear rate limited; waiting", operation=op.name, attempt=attempt,
                            wait_seconds=round(delay, 2))
                self._sleep(delay)
        else:
            raise ConnectorError("linear", f"{op.name}: still rate limited (RATELIMITED) after "
                                           f"{self.policy.max_attempts} attempts", status=response.status_code,
                                 code="RATELIMITED", retryable=True)
        if errors:
            raise to_connector_error(op.name, response.status_code, errors)
        if response.status_code >= 400 or not isinstance(body.get("data"), dict):
            raise ConnectorError("linear", f"{op.name}: unexpected answer", status=response.status_code,
                                 retryable=response.status_code >= 500)
        return body["data"]

    def _post(self, op: Operation, variables: dict[str, Any]) -> tuple[httpx.Response, dict[str, Any]]:
        payload = {"query": op.document, "variables": variables, "operationName": op.name}
        try:
            response = self._client.post(self.settings.api_url, json=payload,
                                         extensions={} if op.mutation else {"idempotent": True})
        except httpx.HTTPError as exc:
            raise ConnectorError("linear", f"{op.name}: request to Linear failed ({type(exc).__name__})",
                                 retryable=True) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ConnectorError("linear", f"{op.name}: the answer is not GraphQL JSON", status=response.status_code,
                                 retryable=response.status_code >= 500)
        return response, body

    def _rate_limit_delay(self, attempt: int, response: httpx.Response) -> float:
        """Retry-After when Linear sends it (bounded), else the shared policy's backoff."""
        after = retry_after_seconds(response.headers)
        return self.policy.backoff_delay(attempt) if after is None else min(after, self.policy.max_retry_after)


def error_code(error: Any) -> str | None:
    ext = error.get("extensions") if isinstance(error, dict) else None
    return ext.get("code") if isinstance(ext, dict) else None


def to_connector_error(op_name: str, status: int, errors: list[Any]) -> ConnectorError:
    """A GraphQL `errors` list as one clear, redacted line (Linear's user-facing message first)."""
    first = errors[0] if isinstance(errors[0], dict) else {"message": str(errors[0])}
    ext = first.get("extensions") if isinstance(first.get("extensions"), dict) else {}
    text = str(ext.get("userPresentableMessage") or first.get("message") or "unknown error")
    text += f" (and {len(errors) - 1} more error(s))" if len(errors) > 1 else ""
    if ext.get("code") == "AUTHENTICATION_ERROR":
        text = f"authentication failed, check api_key: {text}"
    return ConnectorError("linear", redact.redact(f"{op_name}: {text}"), status=status, code=ext.get("code"),
                          retryable=status >= 500)


def auth_header(key: str) -> str:
    """Personal API keys go bare in Authorization; OAuth access tokens as `Bearer <token>`."""
    return f"Bearer {key}" if key.startswith("lin_oauth_") else key


def issue_id(team_id: str, ticket_id: str) -> str:
    """The id syncd gives the issue of `ticket_id` in `team_id`: derived, so a retry can find it."""
    return _derived(f"issue:{team_id}:{ticket_id}")


def item_id(parent_id: str, key: str) -> str:
    return _derived(f"item:{parent_id}:{key}")


def _derived(seed: str) -> str:
    """A UUID in v4 format (what Linear's `id` input asks for) that is a pure function of `seed`."""
    return str(uuid.UUID(bytes=hashlib.sha256(_ID_NAMESPACE + seed.encode()).digest()[:16], version=4))


def marker_url(ticket: Ticket) -> str:
    if not ticket.url:
        raise TicketDataError(f"ticket {ticket.id}: no url; Linear needs it as the marker attachment's url")
    return ticket.url


def _ref(issue: dict[str, Any]) -> ExternalRef:
    return ExternalRef(issue["id"], issue.get("identifier"), issue.get("url"))


def _title(title: str) -> str:
    """One line of at most 255 characters."""
    one_line = " ".join(title.split())
    return one_line if len(one_line) <= 255 else one_line[:254] + "…"


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-!|~&=@])")
_ORDERED = re.compile(r"^(\s*\d+)\.(?=\s|$)", re.MULTILINE)  # "1. " would start a list


def escape_markdown(text: str) -> str:
    """Make user text inert in Markdown: no emphasis, links, HTML, headings, lists, tables or mentions."""
    return _ORDERED.sub(r"\1\\.", _MD_SPECIAL.sub(r"\\\1", text))



def _link(text: str, url: str) -> str:
    """A Markdown link to an http(s) URL; anything else is shown as escaped text."""
    if re.match(r"^https?://[^\s<>()\[\]]+$", url):
        return f"[{escape_markdown(text)}]({url})"
    return f"{escape_markdown(text)}: {escape_markdown(url)}"


def render_description(ticket: Ticket) -> str:
    """The issue description in Markdown; ticket text is escaped, our structure is not."""
    lines = [escape_markdown(ticket.description), ""]
    lines += [f"**{label}:** {escape_markdown(value)}  " for label, value in render.facts(ticket)]
    data = render.supporting(ticket)
    if data:
        lines += ["", "### Supporting data", ""]
        lines += [f"- {escape_markdown(k)}: {escape_markdown(v)}" for k, v in data]
    if ticket.action_items:
        lines += ["", "### Action items (one sub-issue each)", ""]
        lines += [f"- {escape_markdown(i.title)}" for i in ticket.action_items]
    if ticket.url:
        lines += ["", f"Source: {_link(f'Cogny ticket {ticket.id}', ticket.url)}"]
    return "\n".join(lines).strip()
