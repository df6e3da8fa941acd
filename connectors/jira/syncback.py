"""JIRA as a sync-back source: what linked issues say about progress, and JIRA's own webhooks.

Reading (`read_states`): one JQL search per 100 linked issues, `id in (…)` with the fields
`status,resolution,updated,subtasks,issuetype` — ids, not keys, because a key changes when an
issue moves project while its id never does. The category comes from the status category:
new → todo, indeterminate → in_progress, done → done, or canceled when the resolution is one of
`canceled_resolutions` ("Won't Do", "Duplicate", ...). Sub-tasks come from the parent's `subtasks`
field (one search, no per-sub-task call); that field carries each sub-task's status but not its
resolution, so a sub-task closed as "Won't Do" reads as done.

A deleted issue is simply absent: JIRA answers "does not exist or you do not have permission"
alike, so a deletion cannot be told from a lost permission. Server/DC searches with
`validateQuery=warn` (unknown ids are warnings, not errors); Cloud's `/search/jql` validates
always and answers 400 naming the missing issue, so those ids are dropped and the search
repeated (bounded), with per-issue reads as the last resort.

Webhooks (`parse_webhook`): admin webhooks with a secret are signed `X-Hub-Signature:
sha256=<hex HMAC-SHA256 of the body>`; without a configured secret nothing is accepted (JIRA does
not sign unsigned webhooks, so anyone could post them). A delivery names the issue and, for a
sub-task, its parent; `X-Atlassian-Webhook-Identifier` is the delivery id (same across retries).
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

import structlog

from connectors.jira.settings import DEFAULT_CANCELED_RESOLUTIONS
from syncd.sdk import (
    Category,
    ConnectorError,
    Delivery,
    ExternalRef,
    RemoteState,
    parse_time,
    signed_json,
)

log = structlog.get_logger("syncd.connectors.jira")
FIELDS = ["status", "resolution", "updated", "subtasks", "issuetype"]
BATCH = 100        # issues per search: Cloud's page limit when fields are asked for
MAX_PAGES = 5      # pages per search (a batch of 100 ids fits one page)
MAX_RETRIES = 5    # searches per batch while JIRA names missing issues
_CATEGORY: dict[str, Category] = {"new": "todo", "indeterminate": "in_progress", "done": "done"}
_MISSING = re.compile(r"issue with (?:key|id) '([^']+)' does not exist", re.IGNORECASE)
_ID = re.compile(r"^\d+$")


class JiraSyncBack:
    """`read_states` / `parse_webhook` for one `JiraConnector` (uses its client, policy and errors)."""

    def __init__(self, connector: Any, *, canceled_resolutions: Sequence[str] = DEFAULT_CANCELED_RESOLUTIONS,
                 batch_size: int = BATCH) -> None:
        self.connector = connector
        self.canceled = {name.casefold() for name in canceled_resolutions}
        self.batch_size = max(1, min(batch_size, BATCH))

    # -- reading -----------------------------------------------------------------------------
    def read_states(self, refs: Sequence[ExternalRef], since: Any = None) -> dict[str, RemoteState]:
        """Every ref that still exists, by `ref.id`; `since` is not used (a sub-task's change leaves
        its parent's `updated` alone, so every linked issue is read, 100 per search)."""
        ids = list(dict.fromkeys(r.id for r in refs if _ID.match(r.id or "")))
        skipped = [r.id for r in refs if not _ID.match(r.id or "")]
        if skipped:
            log.warning("jira sync-back: ignoring non-numeric issue ids", ids=skipped[:5])
        out: dict[str, RemoteState] = {}
        for start in range(0, len(ids), self.batch_size):
            for raw in self._search(ids[start:start + self.batch_size]):
                state = self.state(raw)
                out[state.external_id] = state
        return out

    def state(self, raw: Mapping[str, Any]) -> RemoteState:
        """One issue (search JSON) as a RemoteState."""
        fields = raw.get("fields") or {}
        status = fields.get("status") or {}
        resolution = (fields.get("resolution") or {}).get("name")
        category = _CATEGORY.get((status.get("statusCategory") or {}).get("key", ""), "todo")
        if category == "done" and resolution and resolution.casefold() in self.canceled:
            category = "canceled"
        items = {str(sub["id"]): _CATEGORY.get(((sub.get("fields") or {}).get("status") or {})
                                               .get("statusCategory", {}).get("key", ""), "todo")
                 for sub in fields.get("subtasks") or [] if sub.get("id")}
        detail = str(status.get("name") or "?") + (f" (resolution {resolution})" if resolution else "")
        return RemoteState(str(raw["id"]), category, parse_time(fields.get("updated")), items, detail)

    def _search(self, ids: list[str]) -> list[dict[str, Any]]:
        """Raw issues among `ids`; ids JIRA says do not exist are dropped and the search repeated."""
        wanted = [i for i in ids if i.isascii() and i.isdigit()]  # issue ids are numbers: nothing else in JQL
        for _ in range(MAX_RETRIES):
            if not wanted:
                return []
            try:
                return self._pages(f"id in ({', '.join(wanted)})")
            except ConnectorError as exc:
                missing = set(_MISSING.findall(exc.message)) if exc.status == 400 else set()
                if not missing & set(wanted):
                    raise
                log.info("jira sync-back: linked issues not found (deleted or hidden)", ids=sorted(missing))
                wanted = [i for i in wanted if i not in missing]
        return self._one_by_one(wanted)

    def _pages(self, jql: str) -> list[dict[str, Any]]:
        """All pages of one search: `/search/jql` token paging on Cloud, `/search` offsets on Server/DC."""
        def page(j: Any, token: Any) -> Any:  # the search's JSON answer
            if j._is_cloud:
                return j.enhanced_search_issues(jql, nextPageToken=token, maxResults=BATCH,
                                                fields=list(FIELDS), json_result=True, use_post=True)
            return j.search_issues(jql, startAt=token or 0, maxResults=BATCH, validate_query="warn",
                                   fields=list(FIELDS), json_result=True, use_post=True)

        issues: list[dict[str, Any]] = []
        token: Any = None
        for _ in range(MAX_PAGES):
            body = self.connector._call("sync-back search", lambda j: page(j, token))
            got = list(body.get("issues") or [])
            issues += got
            if "nextPageToken" in body or "isLast" in body:  # Cloud
                token = body.get("nextPageToken")
                if not token or body.get("isLast", True):
                    return issues
            else:  # Server/DC: offset paging with a total
                token = int(body.get("startAt", 0)) + len(got)
                if not got or token >= int(body.get("total", 0)):
                    return issues
        log.warning("jira sync-back: search stopped at the page limit", pages=MAX_PAGES)
        return issues

    def _one_by_one(self, ids: list[str]) -> list[dict[str, Any]]:
        """Last resort when searches keep failing: one GET per issue, 404 meaning absent."""
        found = []
        for issue_id in ids:
            try:
                issue = self.connector._call("sync-back get issue",
                                             lambda j: j.issue(issue_id, fields=",".join(FIELDS)))
            except ConnectorError as exc:
                if exc.status == 404:
                    continue
                raise
            found.append(issue.raw)
        return found

    # -- webhooks -------------------------------------------------------------------------------
    def parse_webhook(self, body: bytes, headers: Mapping[str, str], secrets: Sequence[str],
                      tolerance_seconds: int) -> Delivery:
        """Verify `X-Hub-Signature` and name the issue (and a sub-task's parent).

        `tolerance_seconds` is not used: JIRA signs no timestamp, and a replayed delivery only
        makes syncd read the issue again.
        """
        delivery_id = headers.get("x-atlassian-webhook-identifier", "")
        if not [s for s in secrets if s]:
            return Delivery(False, delivery_id,
                            reason="no webhook_secret is configured for this JIRA connector: "
                                   "register the webhook with a secret so JIRA signs it")
        given = headers.get("x-hub-signature", "")
        scheme, _, digest = given.partition("=")
        if scheme.strip().lower() != "sha256" or not digest:
            return Delivery(False, delivery_id,
                            reason="missing or malformed X-Hub-Signature (want sha256=<hex>)")
        payload, reason = signed_json(body, digest, secrets, "X-Hub-Signature")
        if payload is None:
            return Delivery(False, delivery_id, reason=reason)
        issue: dict[str, Any] = payload["issue"] if isinstance(payload.get("issue"), dict) else {}
        parent = (issue.get("fields") or {}).get("parent") or {}
        ids = [str(x) for x in (issue.get("id"), parent.get("id") if isinstance(parent, dict) else None) if x]
        return Delivery(True, delivery_id, tuple(dict.fromkeys(ids)))
