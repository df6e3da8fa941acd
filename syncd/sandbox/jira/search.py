"""JQL search endpoints of the JIRA sandbox, one per deployment, as JIRA has them today.

- Server/DC: `GET/POST /rest/api/2/search`, `startAt`/`maxResults`/`total` paging, fields
  default to `*navigable`. On Cloud it answers 410 Gone (Atlassian CHANGE-2046).
- Cloud: `GET/POST /rest/api/{2,3}/search/jql`, opaque `nextPageToken` paging, only `id` per
  issue unless `fields` is asked for, bounded JQL required, and new issues hidden until the
  search index catches up (`search_lag`) unless named in `reconcileIssues`. Absent on Server.
"""

from __future__ import annotations

import hashlib
import threading
import time
import weakref
from typing import Any

from syncd.sandbox._common import tokens
from syncd.sandbox._common.base import mark_read_only
from syncd.sandbox.jira import jql
from syncd.sandbox.jira.catalog import ISSUE_TYPES, PRIORITIES, STATUSES
from syncd.sandbox.jira.endpoint import Call, Reply
from syncd.sandbox.jira.render import field_selector
from syncd.sandbox.jira.state import JiraState
from syncd.sandbox.jira.wire import ApiError, count_param

LEGACY_KEYS = frozenset({"jql", "startAt", "maxResults", "validateQuery", "fields", "expand", "properties",
                         "fieldsByKeys"})
CLOUD_KEYS = frozenset({"jql", "nextPageToken", "maxResults", "fields", "expand", "properties",
                        "fieldsByKeys", "reconcileIssues"})
GONE = {
    "3": "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
         "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046",
    "2": "The requested API has been removed. Please use the newer, enhanced search-based API instead. "
         "Deprecation details are available at https://developer.atlassian.com/changelog/#CHANGE-2046.",
}
UNBOUNDED = "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."


def legacy_search(call: Call) -> Reply:
    """`/search`: offset paging with a total (Server/DC only)."""
    mark_read_only(call.request)  # a POST search changes nothing
    if call.sb.cloud:
        raise ApiError(410, [GONE[call.version]])
    args = _args(call, LEGACY_KEYS)
    checked = str(args.get("validateQuery", "true")).lower() not in ("false", "none", "warn")
    hits = _run(call, args["jql"], validate=checked, bounded=False, reconcile=set())
    start = count_param(args.get("startAt"), "startAt", 0)
    size = min(count_param(args.get("maxResults"), "maxResults", 50), call.sb.page_limit)
    wanted = field_selector(args["fields"], "*navigable")
    kids = call.sb.subtasks_by_parent()
    page = [call.sb.render_issue(call.render, i, wanted, args["expand"], kids)
            for i in hits[start:start + size]]
    return 200, {"expand": "schema,names", "startAt": start, "maxResults": size, "total": len(hits),
                 "issues": page}


def cloud_search(call: Call) -> Reply:
    """`/search/jql`: token paging, ids only by default (Cloud only)."""
    mark_read_only(call.request)
    if not call.sb.cloud:
        raise ApiError(404, [f"null for uri: {call.request.url}"])
    args = _args(call, CLOUD_KEYS)
    reconcile = {count_param(x, "reconcileIssues", 0) for x in args["reconcileIssues"]}
    hits = _run(call, args["jql"], validate=True, bounded=True, reconcile=reconcile)
    offset = _read_token(args.get("nextPageToken"), args["jql"])
    size = max(1, min(count_param(args.get("maxResults"), "maxResults", 50), call.sb.page_limit))
    page = hits[offset:offset + size]
    if args["fields"] in ([], ["id"]):
        issues: list[dict[str, Any]] = [{"id": i["id"]} for i in page]
    else:
        wanted = field_selector(args["fields"], "*navigable")
        kids = call.sb.subtasks_by_parent()
        issues = [call.sb.render_issue(call.render, i, wanted, args["expand"], kids) for i in page]
    body: dict[str, Any] = {"issues": issues, "isLast": offset + size >= len(hits)}
    if not body["isLast"]:
        body["nextPageToken"] = _make_token(offset + size, args["jql"])
    return 200, body


def _args(call: Call, allowed: frozenset[str]) -> dict[str, Any]:
    """Search arguments from the query string (GET) or the JSON body (POST, unknown keys refused)."""
    if call.request.method == "POST":
        body = call.body if call.body is not None else {}
        if not isinstance(body, dict):
            raise ApiError(400, ["Request body must be a JSON object."])
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise ApiError(400, [f'Unrecognized field "{unknown[0]}" (not marked as ignorable).'])
        args = dict(body)
        fields = body.get("fields") or []
        reconcile = body.get("reconcileIssues") or []
    else:
        args = {k: call.param(k) for k in allowed if call.param(k) is not None}
        fields = call.params("fields")
        reconcile = [x for raw in call.params("reconcileIssues") for x in str(raw).split(",") if x.strip()]
    if not isinstance(fields, list) or not isinstance(reconcile, list):
        raise ApiError(400, ["'fields' and 'reconcileIssues' must be arrays."])
    args["fields"] = [str(f) for f in fields if str(f).strip()]
    args["reconcileIssues"] = reconcile
    args["jql"] = str(args.get("jql") or "")
    args["expand"] = frozenset(x.strip() for x in str(args.get("expand") or "").split(",") if x.strip())
    return args


def _run(call: Call, text: str, *, validate: bool, bounded: bool,
         reconcile: set[int]) -> list[dict[str, Any]]:
    """Parse, check and evaluate JQL against the issues the search index can see now."""
    index = _index_of(call.sb)
    index.sync(call.sb.issues)
    try:
        query = jql.parse(text)
        if validate:
            jql.validate(query, index.known(call.sb))
    except jql.JqlError as exc:
        raise ApiError(400, [str(exc)]) from None
    if bounded and query.where is None:
        raise ApiError(400, [UNBOUNDED])
    now = time.monotonic()
    hits = [i for i in index.candidates(call.sb.issues, query.where)
            if (i["indexed_at"] <= now or int(i["id"]) in reconcile)
            and jql.matches(query.where, call.sb.record(i))]
    return _sort(hits, query.order or (("key", True),))


class _Index:
    """Label and key look-ups over a sandbox's issues, so a marker search costs O(hits), not O(issues).

    The sandbox changes issues in place (create, edit, delete, tests poking at `issues`), so before
    each search `sync` compares every issue's labels and id with what it indexed — a cheap pass,
    unlike building every issue's JQL record — and re-indexes what changed. Look-ups only narrow the
    candidates; each one is still evaluated in full, so results are exactly those of a full scan.
    """

    def __init__(self) -> None:
        self.labels_of: dict[str, list[str]] = {}  # issue key -> the labels indexed for it
        self.by_label: dict[str, set[str]] = {}  # label (lower-cased) -> issue keys
        self.by_id: dict[str, str] = {}  # issue id -> key
        self.id_of: dict[str, str] = {}  # issue key -> id
        self._static: tuple[tuple[str, ...], dict[str, Any]] | None = None

    def sync(self, issues: dict[str, dict[str, Any]]) -> None:
        for key, issue in issues.items():
            if self.labels_of.get(key) != issue["labels"] or self.id_of.get(key) != issue["id"]:
                self._unlabel(key)
                self.labels_of[key] = list(issue["labels"])
                self.by_id[issue["id"]], self.id_of[key] = key, issue["id"]
                for label in issue["labels"]:
                    self.by_label.setdefault(str(label).lower(), set()).add(key)
        if len(self.labels_of) > len(issues):  # some were deleted
            for key in [k for k in self.labels_of if k not in issues]:
                self._unlabel(key)
                self.by_id.pop(self.id_of.pop(key, ""), None)

    def _unlabel(self, key: str) -> None:
        for label in self.labels_of.pop(key, ()):
            self.by_label.get(str(label).lower(), set()).discard(key)

    def candidates(self, issues: dict[str, dict[str, Any]], where: jql.Node | None) -> list[dict[str, Any]]:
        """The issues that may match `where` (all of them when the index cannot narrow it)."""
        keys = jql.narrow(where, lambda field, values: self._lookup(issues, field, values))
        if keys is None:
            return list(issues.values())
        return [issues[k] for k in keys if k in issues]

    def _lookup(self, issues: dict[str, Any], field: str, values: tuple[str, ...]) -> set[str] | None:
        if field == "labels":
            return set().union(*(self.by_label.get(v.lower(), ()) for v in values))
        if field == "key":
            return {k for v in values for k in (v.upper(), self.by_id.get(v)) if k in issues}
        return None

    def known(self, sb: JiraState) -> dict[str, Any]:
        """`sb.known_values()`, with the issue keys answered from the index instead of rebuilt per search."""
        projects = tuple(sb.projects)
        if self._static is None or self._static[0] != projects:
            static = {k: v for k, v in sb.known_values().items() if k not in ("key", "parent")}
            self._static = (projects, static)
        keys = _KnownKeys(sb.issues, self.by_id)
        return {**self._static[1], "key": keys, "parent": keys}


class _KnownKeys:
    """Membership test for JQL key values (lower-cased by the validator): an issue key or id."""

    def __init__(self, issues: dict[str, Any], by_id: dict[str, str]) -> None:
        self.issues, self.by_id = issues, by_id

    def __contains__(self, value: object) -> bool:
        return str(value).upper() in self.issues or str(value) in self.by_id


_INDEXES: "weakref.WeakKeyDictionary[JiraState, _Index]" = weakref.WeakKeyDictionary()
_INDEXES_LOCK = threading.Lock()  # several sandboxes (each on its own thread) share the table


def _index_of(sb: JiraState) -> _Index:
    """The sandbox's index; callers hold `sb.lock`, so one search at a time brings it up to date."""
    with _INDEXES_LOCK:
        index = _INDEXES.get(sb)
        if index is None:
            index = _INDEXES[sb] = _Index()
        return index


def _sort(issues: list[dict[str, Any]], order: tuple[tuple[str, bool], ...]) -> list[dict[str, Any]]:
    """Stable multi-key sort; without ORDER BY the sandbox answers newest key first."""
    status_rank = {name: n for n, name in enumerate(STATUSES)}
    priority_rank = {name: len(PRIORITIES) - n for n, name in enumerate(PRIORITIES)}
    keys = {
        "key": lambda i: (i["project"], int(i["key"].rsplit("-", 1)[1])),
        "created": lambda i: i["created"], "updated": lambda i: i["updated"],
        "priority": lambda i: priority_rank[i["priority"]], "summary": lambda i: i["summary"].lower(),
        "status": lambda i: status_rank[i["status"]],
        "issuetype": lambda i: list(ISSUE_TYPES).index(i["issuetype"]),
    }
    result = sorted(issues, key=lambda i: int(i["id"]))
    for field, descending in reversed(order):
        result.sort(key=keys[field], reverse=descending)
    return result


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _make_token(offset: int, text: str) -> str:
    return tokens.encode(f"{offset}:{_digest(text)}".encode())


def _read_token(token: Any, text: str) -> int:
    """Offset from a token made by `_make_token` for the same JQL; anything else is refused."""
    if not token:
        return 0
    try:
        raw = tokens.decode(str(token)).decode()
        offset, digest = raw.split(":", 1)
        if digest == _digest(text):
            return int(offset)
    except (ValueError, UnicodeDecodeError):
        pass
    raise ApiError(400, ["The provided next page token is invalid or expired."])
