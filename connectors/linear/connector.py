"""Linear: one issue per ticket, one sub-issue per action item, over GraphQL with httpx.

The connector does the I/O: find, create and update issues and sub-issues, and stamp the marker.
What an issue should look like is rendered by `render.render_issue`, a pure function; the
settings are in `settings.py`; the GraphQL documents and the transport (rate limits, error
mapping) are in `graphql.py`. The record's status becomes the team's `done_state` /
`canceled_state` (else its first completed / canceled workflow state).

Marker (docs/design.md invariant 1): an attachment with url `https://app.cogny.com/tickets/<id>`
(Cogny's own ticket url, built from the ticket id alone) and metadata `{"ticketId": <id>}`;
`attachmentCreate` upserts on issue + url, `attachmentsForURL` finds it. Never the ticket's `url`
field: a ticket carrying another's url would adopt that ticket's issue. A found attachment is
adopted only if its url is exactly the marker and it names this ticket. Issues also get a
client-chosen id derived from (team, ticket), sub-issues from (parent, item title), so a crash
between `issueCreate` and `attachmentCreate`, or a timed-out batch, is found again, not duplicated.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import httpx
import structlog

from connectors.linear.graphql import (
    ATTACHMENT_CREATE,
    ATTACHMENTS_FOR_URL,
    ISSUE_BATCH_CREATE,
    ISSUE_CHILDREN,
    ISSUE_CREATE,
    ISSUE_UPDATE,
    ISSUES_BY_ID,
    TEAM_BY_ID,
    TEAM_BY_KEY,
    VIEWER,
    LinearGraphQL,
)
from connectors.linear.ids import issue_id, issue_ids, item_id, marker_fields, marker_url
from connectors.linear.preview import preview
from connectors.linear.render import render_issue, renderer
from connectors.linear.settings import LinearSettings
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
)

__all__ = ["LinearConnector", "Team", "issue_id", "item_id", "marker_url"]

log = structlog.get_logger("syncd.connectors.linear")
BATCH_LIMIT = 50  # issues per issueBatchCreate (an assumption: Linear documents no figure)
PAGE_SIZE = 100
MAX_PAGES = 20    # bounded paging; 2,000 sub-issues is far beyond any ticket


@dataclass(frozen=True)
class Team:
    """The configured team and its workflow states ({id, name, type, position}, by position)."""

    id: str
    key: str
    name: str
    states: tuple[dict[str, Any], ...]


class LinearConnector(SyncsBack):
    type = "linear"
    label = "Linear"
    Settings = LinearSettings

    def __init__(self, name: str, settings: LinearSettings, *, policy: RetryPolicy | None = None,
                 transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep):
        self.name = name
        self.settings = settings
        self.policy = policy or RetryPolicy()
        self.api = LinearGraphQL(settings.api_url, settings.api_key.get_secret_value(), self.policy,
                                 transport=transport, sleep=sleep)
        self._team: Team | None = None
        self._team_lock = threading.Lock()
        self.templates = renderer(settings)

    # -- rendering (pure) ----------------------------------------------------------------
    def render(self, ticket: Ticket) -> Desired:
        """The issue and sub-issues `ticket` should have; see `render.render_issue` (no I/O)."""
        return render_issue(self.settings, self.templates, ticket)

    # -- reading ---------------------------------------------------------------------------
    def find(self, ticket: Ticket) -> ExternalRef | None:
        team, marker = self.team(), marker_url(ticket.id)
        nodes = self.api.execute(ATTACHMENTS_FOR_URL, {"url": marker})["attachmentsForURL"]["nodes"]
        # an issue in the trash was deleted by a person: it is not this ticket's record any more
        issues = [
            n["issue"]
            for n in nodes
            if _marks(n, marker, ticket.id, team.id) and not n["issue"].get("trashed")
        ]
        if len(issues) > 1:
            log.warning("several issues carry the marker; using the first",
                        keys=[i["identifier"] for i in issues])
        if issues:
            return _ref(issues[0])
        found = [i for i in self._issues_by_id(issue_ids(team.id, ticket.id)) if not i.get("trashed")]
        return _ref(found[0]) if found else None

    def find_items(self, ref: ExternalRef) -> dict[str, ExternalRef]:
        out: dict[str, ExternalRef] = {}
        after: str | None = None
        for _ in range(MAX_PAGES):
            variables = {"id": ref.id, "first": PAGE_SIZE, "after": after}
            page = self.api.execute(ISSUE_CHILDREN, variables)["issue"]["children"]
            for child in page["nodes"]:
                out.setdefault(child["title"], _ref(child))
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        return out

    # -- writing ---------------------------------------------------------------------------
    def create(self, ticket: Ticket, desired: Desired) -> ExternalRef:
        team = self.team()
        fields = self.issue_fields(team, desired.record)
        ref = self._create_issue(fields, issue_ids(team.id, ticket.id))
        log.info("linear issue created", external_key=ref.key)
        self._stamp(ref, ticket)
        return ref

    def preview(self, ticket: Ticket, desired: Desired) -> list[dict[str, Any]]:
        """The GraphQL requests `create` and `create_items` would send (syncd.sdk.Previews)."""
        team = self.team()
        parent = ExternalRef(issue_ids(team.id, ticket.id)[0])
        children = [self.child_fields(team, parent, item_id(parent.id, key), item)
                    for key, item in desired.items.items()]
        return preview(parent, self.issue_fields(team, desired.record), children, ticket)

    def issue_fields(self, team: Team, record: dict[str, Any]) -> dict[str, Any]:
        """issueCreate's input for `record` (without the derived id)."""
        fields: dict[str, Any] = {"teamId": team.id,
                                  "title": record["title"], "description": record["description"],
                                  "priority": record["priority"]}
        if record["labelIds"]:
            fields["labelIds"] = record["labelIds"]
        if record["projectId"]:
            fields["projectId"] = record["projectId"]
        if record.get("assigneeId"):
            fields["assigneeId"] = record["assigneeId"]
        fields.update({k: v for k, v in record.get("fields", {}).items() if v is not None})
        if record["status"] != "open":
            fields["stateId"] = self._state_for(record["status"])["id"]
        return fields

    def update(self, ref: ExternalRef, ticket: Ticket, desired: Desired,
               previous: Desired | None) -> ExternalRef:
        old = previous.record if previous else None
        changes = self._record_changes(old, desired.record)
        if changes:
            ref = self._update_issue(ref, changes)
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
            batch = [self.child_fields(team, ref, ids[key], items[key]) for key in chunk]
            try:
                made = self.api.mutate(ISSUE_BATCH_CREATE, {"input": {"issues": batch}}, "issueBatchCreate",
                                       "issues")
            except ConnectorError as exc:
                raise PartialItems(created, exc) from None
            by_id = {i["id"]: _ref(i) for i in made}
            created.update({key: by_id[ids[key]] for key in chunk if ids[key] in by_id})
            log.info("linear sub-issues created", parent=ref.key, count=len(by_id))
            missing = [key for key in chunk if ids[key] not in by_id]
            if missing:
                raise PartialItems(created, ConnectorError("linear", f"sub-issues missing from the answer: "
                                                                     f"{missing}"))
        return created

    def update_item(self, ref: ExternalRef, item_ref: ExternalRef, item: dict[str, Any],
                    previous: dict[str, Any] | None) -> None:
        changes = {k: item[k] for k in ("title", "description")
                   if previous is None or previous.get(k) != item[k]}
        was = None if previous is None else bool(previous.get("completed"))
        if was != item["completed"] and (was is not None or item["completed"]):
            changes["stateId"] = self._state_for("done" if item["completed"] else "open")["id"]
        if changes:
            self._update_issue(item_ref, changes)
            log.info("linear sub-issue updated", external_key=item_ref.key, fields=sorted(changes))

    def check(self) -> list[Check]:
        try:
            me = self.api.execute(VIEWER, {})["viewer"]
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

    def _new_sync_back_source(self) -> SyncBackSource:
        from connectors.linear.syncback import LinearSyncBack
        return LinearSyncBack(self)

    def close(self) -> None:
        self.api.close()

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
            node = self.api.execute(TEAM_BY_ID, {"id": s.team_id})["team"]
        else:
            nodes = self.api.execute(TEAM_BY_KEY, {"key": s.team_key})["teams"]["nodes"]
            if not nodes:
                raise ConnectorError("linear", f"team_key {s.team_key!r}: no such team visible to this "
                                               "api_key")
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
        changes = {k: new[k] for k in ("title", "description", "priority")
                   if old is None or old.get(k) != new[k]}
        if new["projectId"] if old is None else old.get("projectId") != new["projectId"]:
            changes["projectId"] = new["projectId"]
        if "assigneeId" in new and (new["assigneeId"] if old is None
                                    else old.get("assigneeId") != new["assigneeId"]):
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

    def child_fields(self, team: Team, parent: ExternalRef, child_id: str,
                      item: dict[str, Any]) -> dict[str, Any]:
        fields: dict[str, Any] = {"id": child_id, "teamId": team.id, "parentId": parent.id,
                                  "title": item["title"], "description": item["description"]}
        if self.settings.project_id:
            fields["projectId"] = self.settings.project_id
        if item["completed"]:
            fields["stateId"] = self._state_for("done")["id"]
        return fields

    def _stamp(self, ref: ExternalRef, ticket: Ticket) -> None:
        """Upsert the marker attachment (same issue + url updates the existing one)."""
        fields = marker_fields(ref, ticket)
        self.api.mutate(ATTACHMENT_CREATE, {"input": fields}, "attachmentCreate", "attachment")
        log.info("linear marker attached", external_key=ref.key)

    def _create_issue(self, fields: dict[str, Any], ids: list[str]) -> ExternalRef:
        """issueCreate with the first derived id not taken: a retry finds its issue by that id, and
        one recreated after a person deleted the first (still in Linear's trash) takes the next."""
        for n, wanted in enumerate(ids):
            try:
                return _ref(
                    self.api.mutate(ISSUE_CREATE, {"input": {"id": wanted, **fields}}, "issueCreate", "issue")
                )
            except ConnectorError as exc:
                if exc.code != "CONFLICT" or n == len(ids) - 1:
                    raise
        raise AssertionError("unreachable: the last id's error is raised")

    def _update_issue(self, ref: ExternalRef, changes: dict[str, Any]) -> ExternalRef:
        """issueUpdate; `RecordGone` for an issue people deleted (in the trash, or purged from it)."""
        try:
            issue = self.api.mutate(ISSUE_UPDATE, {"id": ref.id, "input": changes}, "issueUpdate", "issue")
        except ConnectorError as exc:
            # Linear says "Entity not found" also for a team one lost access to: only a visible team
            # makes it a deletion
            if exc.code != "ENTITY_NOT_FOUND" or not self._team_visible():
                raise
            raise RecordGone("linear", str(exc), code=exc.code, how="deleted in Linear") from None
        if issue.get("trashed"):
            raise RecordGone("linear", f"{ref.key or ref.id} is in the trash", how="deleted in Linear")
        return _ref(issue)

    def _team_visible(self) -> bool:
        try:
            self.api.execute(TEAM_BY_ID, {"id": self.team().id})
        except ConnectorError:
            return False
        return True

    def _issues_by_id(self, ids: list[str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for start in range(0, len(ids), PAGE_SIZE):
            chunk = ids[start:start + PAGE_SIZE]
            found += self.api.execute(ISSUES_BY_ID, {"ids": chunk, "first": len(chunk)})["issues"]["nodes"]
        return found


def _marks(node: dict[str, Any], marker: str, ticket_id: str, team_id: str) -> bool:
    """Whether attachment `node` is this ticket's marker on an issue of the team.

    Its url must be exactly the marker (a look-up by URL may match loosely), and it must name this
    ticket: syncd's metadata says which ticket stamped it; a marker without it (pasted by a
    person) counts only on the issue syncd made for this ticket (the derived id).
    """
    issue = node.get("issue") or {}
    if node.get("url") != marker or (issue.get("team") or {}).get("id") != team_id:
        return False
    meta = node.get("metadata")
    if isinstance(meta, dict) and "ticketId" in meta:
        return bool(meta["ticketId"] == ticket_id)
    return issue.get("id") in issue_ids(team_id, ticket_id)


def _ref(issue: dict[str, Any]) -> ExternalRef:
    return ExternalRef(issue["id"], issue.get("identifier"), issue.get("url"))

