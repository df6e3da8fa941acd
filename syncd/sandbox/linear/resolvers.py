"""The Linear sandbox's resolvers: the queries and mutations syncd uses, over the sandbox's state.

Reads are views of the stored dicts (relations resolved lazily, connections paged as Relay
pages). Writes are checked as Linear checks them (team, parent and state must exist and belong
together, priority 0–4, ids are UUIDs, a batch is all-or-nothing) before the state applies them;
an input field the sandbox does not model is refused with SANDBOX_UNSUPPORTED.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable, cast

from syncd.sandbox.linear.schema import View, api_error, connection, matches, not_found, unsupported
from syncd.sandbox.linear.state import LinearState
from syncd.sandbox.linear.wire import PRIORITY_LABELS

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
BATCH_LIMIT = 50
CREATE_KEYS = {"id", "teamId", "title", "description", "priority", "parentId", "stateId", "labelIds",
               "projectId", "assigneeId", "estimate", "dueDate"}
UPDATE_KEYS = {"assigneeId", "estimate", "dueDate", "title", "description", "priority", "parentId", "stateId",
               "labelIds", "addedLabelIds", "removedLabelIds", "projectId"}


class Resolvers:
    """Root query and mutation fields over a Linear sandbox's state (caller holds `sb.lock`)."""

    def __init__(self, sb: LinearState) -> None:
        self.sb = sb

    def root(self) -> View:
        return {
            "viewer": lambda info: dict(self.sb.viewer),
            "team": lambda info, id: self.team_view(self._team(id)),
            "teams": lambda info, **a: connection(
                [t for t in self.sb.teams.values() if matches(t, a.get("filter"), _TEAM_FIELDS)], a,
                self.team_view),
            "workflowStates": lambda info, **a: connection(
                [s for s in self._states() if self._state_matches(s, a.get("filter"))], a, self.state_view),
            "issue": lambda info, id: self.issue_view(self._issue(id)),
            "issues": lambda info, **a: connection(
                [i for i in self.sb.issues.values() if self._issue_matches(i, a.get("filter"))], a,
                self.issue_view),
            "attachmentsForURL": lambda info, url, **a: connection(
                [x for x in self.sb.attachments.values() if x["url"] == url], a, self.attachment_view),
            "issueCreate": lambda info, input: self._payload(issue=self.issue_view(self._create([input])[0])),
            "issueBatchCreate": lambda info, input: self._payload(
                issues=[self.issue_view(i) for i in self._create(input["issues"], batch=True)]),
            "issueUpdate": lambda info, id, input: self._payload(
                issue=self.issue_view(self._update(id, input))),
            "attachmentCreate": lambda info, input: self._payload(attachment=self.attachment_view(
                self.sb.upsert_attachment(self._attachment_input(input)))),
        }

    # -- views -------------------------------------------------------------------------------
    def team_view(self, team: dict[str, Any]) -> View:
        states = [s for s in self._states() if s["teamId"] == team["id"]]
        issues = [i for i in self.sb.issues.values() if i["teamId"] == team["id"]]
        return {**team, "states": lambda info, **a: connection(
                    [s for s in states if self._state_matches(s, a.get("filter"))], a, self.state_view),
                "issues": lambda info, **a: connection(
                    [i for i in issues if self._issue_matches(i, a.get("filter"))], a, self.issue_view)}

    def state_view(self, state: dict[str, Any]) -> View:
        return {**state, "team": lambda info: self.team_view(self.sb.teams[state["teamId"]])}

    def issue_view(self, issue: dict[str, Any]) -> View:
        sb = self.sb
        kids = [i for i in sb.issues.values() if i["parentId"] == issue["id"]]
        return {
            **issue, "url": sb.issue_url(issue), "priorityLabel": PRIORITY_LABELS[issue["priority"]],
            "team": lambda info: self.team_view(sb.teams[issue["teamId"]]),
            "state": lambda info: self.state_view(cast(View, sb.state(issue["stateId"]))),  # it exists
            "parent": lambda info: (self.issue_view(sb.issues[issue["parentId"]]) if issue["parentId"]
                                    else None),
            "children": lambda info, **a: connection(
                [k for k in kids if self._issue_matches(k, a.get("filter"))], a, self.issue_view),
            "attachments": lambda info, **a: connection(
                [x for x in sb.attachments.values() if x["issueId"] == issue["id"]], a, self.attachment_view),
        }

    def attachment_view(self, att: dict[str, Any]) -> View:
        return {**att, "groupBySource": False,
                "issue": lambda info: self.issue_view(self.sb.issues[att["issueId"]])}

    # -- lookups and filters -------------------------------------------------------------------
    def _team(self, team_id: str) -> dict[str, Any]:
        if team_id not in self.sb.teams:
            raise not_found("Team")
        return self.sb.teams[team_id]

    def _issue(self, ref: str) -> dict[str, Any]:
        found = self.sb.lookup(ref)
        if found is None:
            raise not_found("Issue")
        return found

    def _states(self) -> list[dict[str, Any]]:
        return [s for states in self.sb.team_states.values() for s in states]

    def _state_matches(self, state: dict[str, Any], flt: dict[str, Any] | None) -> bool:
        return matches(state, flt, _STATE_FIELDS,
                       {"team": lambda s, f: matches(self.sb.teams[s["teamId"]], f, _TEAM_FIELDS)})

    def _issue_matches(self, issue: dict[str, Any], flt: dict[str, Any] | None) -> bool:
        sb = self.sb
        return matches(issue, flt, _ISSUE_FIELDS, {
            "team": lambda i, f: matches(sb.teams[i["teamId"]], f, _TEAM_FIELDS),
            "parent": lambda i, f: (i["parentId"] is None) == f["null"] if set(f) == {"null"}
            else i["parentId"] is not None and matches(sb.issues[i["parentId"]], f, _ISSUE_FIELDS),
        })

    @staticmethod
    def _payload(**result: Any) -> View:
        return {"success": True, "lastSyncId": 1.0, **result}

    # -- writes ----------------------------------------------------------------------------------
    def _create(self, inputs: list[dict[str, Any]], *, batch: bool = False) -> list[dict[str, Any]]:
        """Validate every input, then insert all (a batch is all-or-nothing)."""
        if batch and not 0 < len(inputs) <= BATCH_LIMIT:
            raise api_error(f"issueBatchCreate takes 1 to {BATCH_LIMIT} issues, got {len(inputs)}")
        ids = [i.get("id") for i in inputs if i.get("id")]
        if len(ids) != len(set(ids)):
            raise api_error("duplicate id in the batch")
        checked = [self._check_create(i) for i in inputs]
        return [self.sb.insert_issue(fields) for fields in checked]

    def _check_create(self, fields: dict[str, Any]) -> dict[str, Any]:
        _no_unknown_keys("IssueCreateInput", fields, CREATE_KEYS)
        team = self._team_for(fields["teamId"])
        if fields.get("id") is not None:
            if not UUID_RE.match(fields["id"]):
                raise api_error("id must be a UUID")
            if fields["id"] in self.sb.issues:
                raise api_error("An issue with this id already exists", code="CONFLICT")
        if not (fields.get("title") or "").strip():
            raise api_error("title must not be empty")
        self._check_common(team, fields, None)
        return fields

    def _update(self, ref: str, fields: dict[str, Any]) -> dict[str, Any]:
        issue = self._issue(ref)
        _no_unknown_keys("IssueUpdateInput", fields, UPDATE_KEYS)
        if "title" in fields and not (fields["title"] or "").strip():
            raise api_error("title must not be empty")
        self._check_common(self.sb.teams[issue["teamId"]], fields, issue)
        return self.sb.apply_update(issue, fields)

    def _check_common(self, team: dict[str, Any], fields: dict[str, Any],
                      issue: dict[str, Any] | None) -> None:
        priority = fields.get("priority")
        if priority is not None and not 0 <= priority <= 4:
            raise api_error(f"priority must be between 0 and 4, got {priority}")
        if fields.get("stateId") is not None:
            state = self.sb.state(fields["stateId"])
            if state is None or state["teamId"] != team["id"]:
                raise api_error(f"stateId {fields['stateId']!r} is not a workflow state of team "
                                f"{team['key']}")
        if fields.get("parentId") is not None:
            parent = self.sb.lookup(fields["parentId"])
            if parent is None:
                raise api_error(f"parent issue {fields['parentId']!r} not found")
            if parent["teamId"] != team["id"]:
                raise api_error("a sub-issue must be in its parent's team")
            if issue is not None and parent["id"] == issue["id"]:
                raise api_error("an issue cannot be its own parent")
            fields["parentId"] = parent["id"]
        for key in ("labelIds", "addedLabelIds", "removedLabelIds"):
            for label in fields.get(key) or ():
                found = self.sb.labels.get(label)
                if found is None or found["teamId"] not in (None, team["id"]):
                    raise api_error(f"label {label!r} not found in team {team['key']}")
        if fields.get("projectId") is not None and fields["projectId"] not in self.sb.projects:
            raise api_error(f"project {fields['projectId']!r} not found")

    def _team_for(self, team_id: str) -> dict[str, Any]:
        if team_id not in self.sb.teams:
            raise api_error(f"teamId {team_id!r}: team not found")
        return self.sb.teams[team_id]

    def _attachment_input(self, fields: dict[str, Any]) -> dict[str, Any]:
        _no_unknown_keys("AttachmentCreateInput", fields, {"issueId", "url", "title", "subtitle", "metadata"})
        issue = self._issue(fields["issueId"])
        if not fields["url"].strip():
            raise api_error("url must not be empty")
        if not fields["title"].strip():
            raise api_error("title must not be empty")
        return {**fields, "issueId": issue["id"]}


def _no_unknown_keys(type_name: str, fields: dict[str, Any], known: Iterable[str]) -> None:
    extra = sorted(set(fields) - set(known))
    if extra:
        raise unsupported(f"{type_name}.{', '.join(extra)}")


_TEAM_FIELDS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "id": lambda t: t["id"], "key": lambda t: t["key"], "name": lambda t: t["name"]}
_STATE_FIELDS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "id": lambda s: s["id"], "name": lambda s: s["name"], "type": lambda s: s["type"]}
_ISSUE_FIELDS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "id": lambda i: i["id"], "title": lambda i: i["title"], "number": lambda i: i["number"]}
