"""JIRA: one issue per ticket, one sub-task per action item, through the `jira` library.

The connector does the I/O: find, create and update issues and sub-tasks, and transition them.
What an issue should look like (summary, description, priority, labels, components, status) is
rendered by `render.render_issue`, a pure function; the settings are in `settings.py`, wiki
markup in `text.py`, the HTTP session in `client.py`. Components are resolved from names to ids
once through the project's component list (`components.py`); only ours are added and removed,
people's stay. Status ← `done_transition` / `dismissed_transition` when the ticket is completed /
dismissed.

Issues are addressed by id, which survives a move to another project; the key (GROWTH-12 →
OTHER-3) is read back on every update, so the store and the notes follow a move. An issue that
answers 404 while its project is still readable was deleted by a person: `RecordGone` (JIRA
answers 404 for an issue one may not see, too; the project check tells the two apart).

The marker label is what `find` searches when the store has no (or an unfinished) link, in every
project the credentials can see (a moved issue keeps its labels). JQL
search lags behind writes on JIRA Cloud, so the engine trusts the store first and the label
second; children are recovered from the parent's `subtasks` field, which does not lag. Every
JQL value is escaped by `jql.jql_string`, and a hit is adopted only if it carries this
ticket's marker exactly (JQL compares labels ignoring case).
"""

from __future__ import annotations

import json
import threading
from typing import Any, Callable, TypeVar
from urllib.parse import quote

import structlog

from connectors.jira.client import JiraClient
from connectors.jira.components import Components
from connectors.jira.jql import labels_query
from connectors.jira.render import render_issue, renderer
from connectors.jira.settings import JiraSettings
from connectors.jira.workflow import Workflow
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
    register_basic_auth,
    render,
)

__all__ = ["JiraConnector"]
log = structlog.get_logger("syncd.connectors.jira")
T = TypeVar("T")
NEW_KEY = "<key of the new issue>"  # what `preview` shows where JIRA's answer would go
BULK_LIMIT = 50  # JIRA's issue/bulk accepts at most 50 issues per call


class JiraConnector(SyncsBack):  # also a syncd.connector.BatchFinder and BatchCreator
    type = "jira"
    label = "JIRA"
    Settings = JiraSettings

    def __init__(self, name: str, settings: JiraSettings, *, policy: RetryPolicy | None = None):
        self.name = name
        self.settings = settings
        self.policy = policy or RetryPolicy()
        self.client = JiraClient(settings, self.policy)
        self._lock = threading.Lock()
        if settings.email and settings.api_token:
            register_basic_auth(settings.email, settings.api_token.get_secret_value())
        self.templates = renderer(settings)
        self._field_ids: dict[str, str] | None = None  # display name (lower-cased) -> field id, fetched once
        self.components = Components(name, settings, self._call)  # category_map's, as ids
        self.workflow = Workflow(settings, self._call)
        self.search_lag_seconds = settings.search_lag_seconds  # JQL trails writes (syncd.engine.search_lag)

    # -- rendering (pure) ----------------------------------------------------------------
    def render(self, ticket: Ticket) -> Desired:
        """The issue and sub-tasks `ticket` should have; see `render.render_issue` (no I/O)."""
        return render_issue(self.settings, self.templates, ticket)

    # -- reading ---------------------------------------------------------------------------
    def find(self, ticket: Ticket) -> ExternalRef | None:
        marker = render.marker_label(ticket.id)
        jql = labels_query(None, [marker])  # every project: people move issues
        found = self._call("search", lambda j: j.search_issues(jql, maxResults=False,
                                                                fields="summary,labels"))
        # JQL matched the label ignoring case: `tkt_A`'s marker also finds `tkt_a`'s issue
        issues = [i for i in found if marker in _labels(i)]
        if not issues:
            return None
        if len(issues) > 1:
            log.warning("several issues carry the marker; using the oldest", marker=marker,
                        keys=[i.key for i in issues])
        return self._ref(issues[0].id, issues[0].key)

    def find_items(self, ref: ExternalRef) -> dict[str, ExternalRef]:
        issue = self._call("get issue", lambda j: j.issue(ref.id or ref.key, fields="subtasks"))
        out: dict[str, ExternalRef] = {}
        for sub in getattr(issue.fields, "subtasks", None) or []:
            out.setdefault(sub.fields.summary, self._ref(sub.id, sub.key))
        return out

    # -- writing ---------------------------------------------------------------------------
    def create(self, ticket: Ticket, desired: Desired) -> ExternalRef:
        (answer,) = self.create_many([(ticket, desired)])
        if isinstance(answer, Exception):
            raise answer
        return answer

    def create_many(self, new: list[tuple[Ticket, Desired]]) -> list[ExternalRef | Exception]:
        """One `issue/bulk` call per 50 new issues, then the transition a finished ticket needs."""
        answers: list[ExternalRef | Exception] = [ConnectorError("jira", "not sent")] * len(new)
        bodies = []
        for n, (ticket, desired) in enumerate(new):
            try:
                bodies.append((n, self.new_issue_fields(ticket, desired)))
            except ConnectorError as exc:  # e.g. an unknown component: this ticket alone fails
                answers[n] = exc
        for n, answer in self._bulk("create issue", bodies):
            if isinstance(answer, str):  # JIRA refused this element (its 400): nothing was made
                answer = ConnectorError("jira", f"create issue: {answer}", status=400)
            elif isinstance(answer, ExternalRef):
                log.info("jira issue created", external_key=answer.key, ticket_id=new[n][0].id)
                try:
                    self.workflow.move_to(answer, new[n][1].record["status"], None)
                except ConnectorError as exc:  # the marker finds the issue again; the retry moves it
                    answer = exc
            answers[n] = answer
        return answers

    def update(self, ref: ExternalRef, ticket: Ticket, desired: Desired,
               previous: Desired | None) -> ExternalRef:
        old = previous.record if previous else {}
        ref = self._current(ref)  # raises RecordGone; follows a move to another project
        fields = self._issue_fields(desired.record, old if previous else None)
        components = self.components.changes(desired.record, old if previous else None, ticket)
        if fields or components:
            self._put(ref, fields, {"components": components} if components else None)
            log.info("jira issue updated", external_key=ref.key,
                     fields=sorted(fields) + (["components"] if components else []))
        if previous is None or old.get("status") != desired.record["status"]:
            self.workflow.move_to(ref, desired.record["status"], old.get("status"))
        return ref

    def create_items(self, ref: ExternalRef, ticket: Ticket,
                     items: dict[str, dict[str, Any]]) -> dict[str, ExternalRef]:
        adopted = adopt_children(self, ref, items, "summary") if self.templates.has("item_title") else {}
        fresh = {k: v for k, v in items.items() if k not in adopted}  # adopted ones were brought up to date
        (answer,) = self.create_items_many([(ref, ticket, fresh)]) if fresh else [{}]
        if isinstance(answer, PartialItems):
            raise PartialItems({**adopted, **answer.created}, answer.cause, answer.unfinished)
        return {**adopted, **answer}

    def create_items_many(self, parents: list[tuple[ExternalRef, Ticket, dict[str, dict[str, Any]]]]
                          ) -> list[dict[str, ExternalRef] | PartialItems]:
        """The sub-tasks of many issues in `issue/bulk` calls of up to 50, then their transitions.

        Per parent: the sub-tasks made, or a PartialItems with those made and the first error (a
        sub-task whose transition to done failed is made but `unfinished`).
        """
        bodies = [((n, key), self.subtask_fields(ref, items[key]))
                  for n, (ref, _, items) in enumerate(parents) for key in items]
        made: list[dict[str, ExternalRef]] = [{} for _ in parents]
        rejected: list[list[str]] = [[] for _ in parents]
        failed: list[Exception | None] = [None] * len(parents)
        for (n, key), answer in self._bulk("bulk create sub-tasks", bodies):
            if isinstance(answer, ExternalRef):
                made[n][key] = answer
            elif isinstance(answer, str):
                rejected[n].append(f"{key!r}: {answer}")
            else:
                failed[n] = failed[n] or answer
        return [self._finish_subtasks(ref, items, made[n], failed[n], rejected[n])
                for n, (ref, _, items) in enumerate(parents)]

    def _finish_subtasks(self, ref: ExternalRef, items: dict[str, dict[str, Any]],
                         made: dict[str, ExternalRef], failed: Exception | None,
                         rejected: list[str]) -> dict[str, ExternalRef] | PartialItems:
        """Move the completed ones to done; the parent's answer for `create_items_many`."""
        if made:
            log.info("jira sub-tasks created", parent=ref.key, count=len(made))
        error = failed or (ConnectorError("jira", "sub-task rejected: " + "; ".join(rejected))
                           if rejected else None)
        unfinished = set()
        for key, sub in made.items():
            if items[key]["completed"]:
                try:
                    self.workflow.move_to(sub, "done", None)
                except ConnectorError as exc:
                    unfinished.add(key)
                    error = error or exc
        return made if error is None else PartialItems(made, error, frozenset(unfinished))

    def _bulk(self, what: str, bodies: list[tuple[Any, dict[str, Any]]]
              ) -> list[tuple[Any, ExternalRef | str | Exception]]:
        """`issue/bulk` in calls of up to 50: per (tag, fields), the issue made, JIRA's reason for
        rejecting it, or the error of the call it was in (then it is unknown whether it was made)."""
        out: list[tuple[Any, ExternalRef | str | Exception]] = []
        for start in range(0, len(bodies), BULK_LIMIT):
            chunk = bodies[start:start + BULK_LIMIT]
            payload = [fields for _, fields in chunk]
            try:
                results = self._call(what, lambda j: j.create_issues(payload, prefetch=False))
            except ConnectorError as exc:
                out += [(tag, exc) for tag, _ in chunk]
                continue
            for (tag, _), res in zip(chunk, results):
                ok = res["status"] == "Success"
                answer = self._ref(res["issue"].id, res["issue"].key) if ok else _rejection(res["error"])
                out.append((tag, answer))
        return out

    def update_item(self, ref: ExternalRef, item_ref: ExternalRef, item: dict[str, Any],
                    previous: dict[str, Any] | None) -> None:
        self._gone_if_missing(item_ref, lambda: self._update_subtask(item_ref, item, previous), "sub-task")

    def _update_subtask(
        self, item_ref: ExternalRef, item: dict[str, Any], previous: dict[str, Any] | None
    ) -> None:
        fields = {k: item[k] for k in ("summary", "description")
                  if previous is None or previous.get(k) != item[k]}
        if fields:
            self._put(item_ref, fields)
            log.info("jira sub-task updated", external_key=item_ref.key, fields=sorted(fields))
        if previous is None or previous.get("completed") != item["completed"]:
            self.workflow.move_to(item_ref, "done" if item["completed"] else "open",
                          None if previous is None else ("done" if previous.get("completed") else "open"))

    def preview(self, ticket: Ticket, desired: Desired) -> list[dict[str, Any]]:
        """The `issue/bulk` requests `create` and `create_items` would send (syncd.sdk.Previews)."""
        from connectors.jira.preview import preview

        return preview(
            self.new_issue_fields(ticket, desired),
            [self.subtask_fields(ExternalRef("", NEW_KEY), item) for item in desired.items.values()],
        )

    def check(self) -> list[Check]:
        checks = []
        try:
            me = self._call("myself", lambda j: j.myself())
            who = me.get("displayName") or me.get("name")
            checks.append(Check("jira credentials", True, f"authenticated as {who}"))
        except ConnectorError as exc:
            return [Check("jira credentials", False, str(exc), "check url, email and api_token (or token)")]
        try:
            project = self._call("project", lambda j: j.project(self.settings.project))
            types = {t.name for t in getattr(project, "issueTypes", [])}
            checks.append(Check(f"jira project {self.settings.project}", True, project.name))
            for wanted in (self.settings.issue_type, self.settings.subtask_type):
                detail = "" if wanted in types else f"available: {', '.join(sorted(types))}"
                checks.append(Check(f"jira issue type {wanted!r}", wanted in types, detail,
                                    "set issue_type / subtask_type"))
        except ConnectorError as exc:
            checks.append(Check(f"jira project {self.settings.project}", False, str(exc), "check `project`"))
        try:
            names = {p.name for p in self._call("priorities", lambda j: j.priorities())}
            bad = sorted(set(self.settings.priority_map.values()) - names)
            checks.append(Check("jira priorities", not bad,
                                f"unknown: {bad}" if bad else "all mapped priorities exist",
                                f"available: {', '.join(sorted(names))}; fix priority_map"))
        except ConnectorError as exc:
            checks.append(Check("jira priorities", False, str(exc)))
        if self.settings.uses_components:
            checks.append(self.components.check())
        return checks

    def _new_sync_back_source(self) -> SyncBackSource:
        from connectors.jira.syncback import JiraSyncBack
        return JiraSyncBack(self, canceled_resolutions=self.settings.canceled_resolutions)

    def close(self) -> None:
        self.client.close()

    # -- plumbing --------------------------------------------------------------------------
    def _issue_fields(self, record: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
        """The fields to send: all of them (`old` None) or those that differ from `old`, by field id."""
        out: dict[str, Any] = {k: record[k] for k in ("summary", "description", "labels")
                               if old is None or old.get(k) != record[k]}
        if old is None or old.get("priority") != record["priority"]:
            out["priority"] = {"name": record["priority"]}
        if "assignee" in record and (record["assignee"] if old is None
                                     else old.get("assignee") != record["assignee"]):
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
        with self._lock:
            known = self._field_ids
        if known is None:
            listing = self._call("list fields", lambda j: j.fields())
            known = {str(f["name"]).casefold(): str(f["id"]) for f in listing}
            known.update({str(f["id"]).casefold(): str(f["id"]) for f in listing})
            with self._lock:
                self._field_ids = known
        if key.casefold() not in known:
            raise ConnectorError("jira", f"fields: no JIRA field named {key!r} (check the name in "
                                         f"JIRA's field list, or use its id, e.g. customfield_10016)")
        return known[key.casefold()]

    def new_issue_fields(self, ticket: Ticket, desired: Desired) -> dict[str, Any]:
        fields = self._issue_fields(desired.record, None)
        fields.update({"project": {"key": self.settings.project},
                       "issuetype": {"name": self.settings.issue_type}})
        if desired.record.get("components"):
            ids = self.components.ids(desired.record["components"], ticket)
            fields["components"] = [{"id": cid} for cid in ids]
        return fields

    def subtask_fields(self, parent: ExternalRef, item: dict[str, Any]) -> dict[str, Any]:
        return {"project": {"key": self.settings.project}, "issuetype": {"name": self.settings.subtask_type},
                "parent": {"key": parent.key}, "summary": item["summary"], "description": item["description"]}

    def _put(self, ref: ExternalRef, fields: dict[str, Any], update: dict[str, Any] | None = None) -> None:
        body = {"fields": fields, **({"update": update} if update else {})}

        def put(j: Any) -> None:
            j._session.put(
                j._get_url(f"issue/{quote(ref.id or ref.key or '', safe='')}"), data=json.dumps(body)
            )

        self._call("edit issue", put)

    def _current(self, ref: ExternalRef) -> ExternalRef:
        """The issue as it is now, read by id: its current key and URL (a move changes the key)."""
        issue = self._gone_if_missing(
            ref,
            lambda: self._call("get issue", lambda j: j.issue(ref.id or ref.key, fields="status")),
            "issue",
        )
        if issue.key != ref.key:
            log.info("jira issue moved; following it", external_key=ref.key, now=issue.key)
        return self._ref(issue.id, issue.key)

    def _gone_if_missing(self, ref: ExternalRef, call: Callable[[], T], what: str) -> T:
        """`call()`, with a 404 turned into RecordGone when the project is still readable.

        JIRA answers 404 both for a deleted issue and for one these credentials may no longer see;
        only the first is a person's decision to respect, the second stays a failure to fix.
        """
        try:
            return call()
        except ConnectorError as exc:
            if exc.status != 404 or not self._project_visible():
                raise
            raise RecordGone("jira", f"{what} {ref.key or ref.id} does not exist", status=404,
                             how=f"deleted in {self.label}") from None

    def _project_visible(self) -> bool:
        try:
            self._call("project", lambda j: j.project(self.settings.project))
        except ConnectorError:
            return False
        return True

    def _ref(self, issue_id: Any, key: str) -> ExternalRef:
        return ExternalRef(str(issue_id), key, f"{self.settings.url}/browse/{key}")

    def _call(self, what: str, fn: Any) -> Any:
        return self.client.call(what, fn)

    def find_many(self, tickets: list[Ticket]) -> dict[str, ExternalRef | None]:
        """`find` for many tickets: one `labels in (...)` search per 100 markers (one listing page).

        Every page of hits is read, and a hit counts only for the marker it carries exactly (JQL
        ignores case; `tkt_A` and `tkt_a` are different tickets), so a ticket without a hit has no
        issue, exactly as `find` would say; the oldest issue wins. A ticket whose id is not a Cogny
        id is left out of the answer: `find` then fails it alone.
        """
        chunk_size = 100  # markers per search, sent in a POST body: no URL length limit
        markers = {render.marker_label(t.id): t.id for t in tickets if is_ticket_id(t.id)}
        out: dict[str, ExternalRef | None] = {}
        names = list(markers)
        for start in range(0, len(names), chunk_size):
            chunk = names[start:start + chunk_size]
            jql = labels_query(None, chunk)
            issues = self._call("search", lambda j: j.search_issues(jql, maxResults=False, fields="labels",
                                                                      use_post=True))
            hits: dict[str, ExternalRef] = {}
            wanted = set(chunk)
            for issue in issues:  # oldest first
                for label in _labels(issue) & wanted:
                    hits.setdefault(label, self._ref(issue.id, issue.key))
            out.update({markers[m]: hits.get(m) for m in chunk})
        return out


def _labels(issue: Any) -> set[str]:
    """The labels a searched issue carries, exactly as JIRA stores them."""
    return {str(label) for label in getattr(issue.fields, "labels", None) or []}


def _rejection(errors: Any) -> str:
    """JIRA's reason for rejecting one element of a bulk create (its field -> message map)."""
    if isinstance(errors, dict) and errors:
        return "; ".join(f"{k}: {v}" for k, v in errors.items())
    return str(errors or "rejected without a reason")


_SYSTEM_IDS = frozenset({"summary", "description", "labels", "priority", "assignee", "reporter", "components",
                         "duedate", "fixVersions", "versions", "environment", "parent", "timetracking"})


