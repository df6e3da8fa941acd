"""Linear as a sync-back source: what linked issues say about progress, and Linear's webhooks.

Reading (`read_states`): `issues(filter: {id: {in: [...]}}, first: 50, includeArchived: true)`
with each issue's `state { id name type }`, `updatedAt`, `trashed` and its sub-issues
(`children(first: 50)` with their `state { type }` and `updatedAt`), through the connector's own
transport (the shared HTTP policy; RATELIMITED answers are waited out there). 50 issues with 50
children each keeps a query well under Linear's complexity budget (10,000 points: connections
multiply by `first`); an issue with more children pages them with a second, small query.

State types map to categories: triage/backlog/unstarted → todo, started → in_progress, completed
→ done, canceled → canceled. An issue in the trash (`trashed`, Linear's delete) is `deleted`;
one that is gone entirely is absent. `updated_at` is the latest `updatedAt` of the issue and its
sub-issues, since a sub-issue's change does not touch its parent.

Webhooks (`parse_webhook`): `Linear-Signature` is the hex HMAC-SHA256 of the raw body with the
webhook's signing secret; `webhookTimestamp` (ms, inside the signed body) older than the
tolerance is a replay (`stale`). An Issue event names `data.id`, `data.parentId` and, for an
issue moved away from a parent, `updatedFrom.parentId`; `Linear-Delivery` is the delivery id.
"""

from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

from connectors.linear.graphql import Operation
from syncd.sdk import (
    Category,
    Delivery,
    ExternalRef,
    RemoteState,
    latest,
    parse_time,
    signed_json,
)

PAGE = 50        # issues per query (and children per issue in that query)
MAX_PAGES = 20   # children pages for one issue (1,000 sub-issues)
_CATEGORY: dict[str, Category] = {"triage": "todo", "backlog": "todo", "unstarted": "todo",
                                  "started": "in_progress", "completed": "done", "canceled": "canceled"}

SYNC_BACK_ISSUES = Operation("SyncBackIssues", """
query SyncBackIssues($ids: [ID!]!, $first: Int!, $children: Int!) {
  issues(filter: {id: {in: $ids}}, first: $first, includeArchived: true) {
    nodes { id identifier updatedAt trashed state { id name type }
      children(first: $children, includeArchived: true) {
        nodes { id updatedAt trashed state { type } } pageInfo { hasNextPage endCursor } } } } }""")
SYNC_BACK_CHILDREN = Operation("SyncBackChildren", """
query SyncBackChildren($id: String!, $first: Int!, $after: String) {
  issue(id: $id) { children(first: $first, after: $after, includeArchived: true) {
    nodes { id updatedAt trashed state { type } } pageInfo { hasNextPage endCursor } } } }""")
OPERATIONS = (SYNC_BACK_ISSUES, SYNC_BACK_CHILDREN)


class LinearSyncBack:
    """`read_states` / `parse_webhook` for one `LinearConnector` (uses its GraphQL transport)."""

    def __init__(self, connector: Any) -> None:
        self.connector = connector

    # -- reading -----------------------------------------------------------------------------
    def read_states(self, refs: Sequence[ExternalRef], since: Any = None) -> dict[str, RemoteState]:
        """Every ref Linear still has, by `ref.id`, 50 per query; `since` is not used (a sub-issue's
        change leaves its parent's `updatedAt` alone, so each linked issue is read)."""
        ids = list(dict.fromkeys(r.id for r in refs if r.id))
        out: dict[str, RemoteState] = {}
        for start in range(0, len(ids), PAGE):
            chunk = ids[start:start + PAGE]
            variables = {"ids": chunk, "first": len(chunk), "children": PAGE}
            data = self.connector.api.execute(SYNC_BACK_ISSUES, variables)
            for node in data["issues"]["nodes"]:
                children = node["children"]["nodes"]
                if node["children"]["pageInfo"]["hasNextPage"]:
                    children += self._more_children(node["id"], node["children"]["pageInfo"]["endCursor"])
                out[node["id"]] = state(node, children)
        return out

    def _more_children(self, issue_id: str, after: str | None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            page = self.connector.api.execute(SYNC_BACK_CHILDREN,
                                              {"id": issue_id, "first": PAGE, "after": after})
            children = page["issue"]["children"]
            found += children["nodes"]
            if not children["pageInfo"]["hasNextPage"]:
                break
            after = children["pageInfo"]["endCursor"]
        return found

    # -- webhooks -------------------------------------------------------------------------------
    def parse_webhook(self, body: bytes, headers: Mapping[str, str], secrets: Sequence[str],
                      tolerance_seconds: int, *, now: float | None = None) -> Delivery:
        """Verify `Linear-Signature`, refuse replays (`webhookTimestamp` outside the tolerance), name the
        issues."""
        delivery_id = headers.get("linear-delivery", "")
        if not [s for s in secrets if s]:
            return Delivery(False, delivery_id,
                            reason="no webhook_secret is configured for this Linear connector")
        payload, reason = signed_json(body, headers.get("linear-signature", ""), secrets, "Linear-Signature")
        if payload is None:
            return Delivery(False, delivery_id, reason=reason)
        sent = payload.get("webhookTimestamp")
        if not isinstance(sent, (int, float)) or isinstance(sent, bool):
            return Delivery(False, delivery_id, reason="webhookTimestamp missing from the body")
        age = (now if now is not None else time.time()) - sent / 1000
        if abs(age) > tolerance_seconds:
            return Delivery(False, delivery_id, reason=f"webhookTimestamp is {int(age)}s old (tolerance "
                                                       f"{tolerance_seconds}s): a replay", stale=True)
        return Delivery(True, delivery_id, _record_ids(payload))


def state(node: Mapping[str, Any], children: Sequence[Mapping[str, Any]]) -> RemoteState:
    """One issue node (with its children) as a RemoteState."""
    kind = (node.get("state") or {}).get("type", "")
    category: Category = "deleted" if node.get("trashed") else _CATEGORY.get(kind, "todo")
    # A sub-issue in the trash is left out (absent, not "deleted"): deleting one in Linear should
    # not un-complete its action item. Archived ones stay: Linear auto-archives closed issues.
    items: dict[str, Category] = {c["id"]: _CATEGORY.get((c.get("state") or {}).get("type", ""), "todo")
                                  for c in children if not c.get("trashed")}
    updated = latest(parse_time(node.get("updatedAt")), *(parse_time(c.get("updatedAt")) for c in children))
    name = (node.get("state") or {}).get("name") or kind or "?"
    detail = f"{name} ({kind})" + (", in the trash" if node.get("trashed") else "")
    return RemoteState(node["id"], category, updated, items, detail)


def _record_ids(payload: Mapping[str, Any]) -> tuple[str, ...]:
    if payload.get("type") != "Issue" or not isinstance(payload.get("data"), dict):
        return ()
    data = payload["data"]
    before: dict[str, Any] = payload["updatedFrom"] if isinstance(payload.get("updatedFrom"), dict) else {}
    ids = [data.get("id"), data.get("parentId"), before.get("parentId")]
    return tuple(dict.fromkeys(str(i) for i in ids if i))
