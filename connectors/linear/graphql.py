"""Linear's GraphQL API as the Linear connector uses it: the documents it sends and one transport.

Every document syncd sends is a named `Operation` constant here (`OPERATIONS`); the tests
validate each one against Linear's published schema. `LinearGraphQL` posts them through the
shared policy client (`syncd.http.make_client`) and turns a GraphQL answer into its `data` or
one clear `ConnectorError`. Linear answers rate limiting with a `RATELIMITED` error (HTTP 400,
sometimes 200) instead of a plain 429, so the transport waits those out itself, within the
shared policy's attempts; queries may also be retried by the HTTP policy, mutations never are.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import httpx
import structlog

from syncd.http import RetryPolicy, make_client, unreachable
from syncd.sdk import ConnectorError, redact, register_secret

log = structlog.get_logger("syncd.connectors.linear")


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
  attachmentsForURL(url: $url) {
    nodes { id url metadata issue { id identifier url trashed team { id } } } } }""")
ISSUES_BY_ID = Operation("IssuesById", """query IssuesById($ids: [ID!]!, $first: Int!) {
  issues(filter: {id: {in: $ids}}, first: $first, includeArchived: true) {
    nodes { id identifier url title trashed } } }""")
ISSUE_CHILDREN = Operation("IssueChildren", """
query IssueChildren($id: String!, $first: Int!, $after: String) {
  issue(id: $id) { children(first: $first, after: $after) {
    nodes { id identifier url title } pageInfo { hasNextPage endCursor } } } }""")
ISSUE_CREATE = Operation("IssueCreate", """mutation IssueCreate($input: IssueCreateInput!) {
  issueCreate(input: $input) { success issue { id identifier url } } }""", mutation=True)
ISSUE_BATCH_CREATE = Operation("IssueBatchCreate", """
mutation IssueBatchCreate($input: IssueBatchCreateInput!) {
  issueBatchCreate(input: $input) { success issues { id identifier url } } }""", mutation=True)
ISSUE_UPDATE = Operation("IssueUpdate", """mutation IssueUpdate($id: String!, $input: IssueUpdateInput!) {
  issueUpdate(id: $id, input: $input) { success issue { id identifier url trashed } } }""", mutation=True)
ATTACHMENT_CREATE = Operation("AttachmentCreate", """
mutation AttachmentCreate($input: AttachmentCreateInput!) {
  attachmentCreate(input: $input) { success attachment { id url } } }""", mutation=True)
OPERATIONS = (VIEWER, TEAM_BY_ID, TEAM_BY_KEY, ATTACHMENTS_FOR_URL, ISSUES_BY_ID, ISSUE_CHILDREN,
              ISSUE_CREATE, ISSUE_BATCH_CREATE, ISSUE_UPDATE, ATTACHMENT_CREATE)


class LinearGraphQL:
    """POSTs `Operation`s to one Linear endpoint with one credential; answers `data` or raises."""

    def __init__(self, api_url: str, api_key: str, policy: RetryPolicy, *,
                 transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep):
        self.api_url = api_url
        self.policy = policy
        self._sleep = sleep
        register_secret(api_key)
        self._client = make_client("linear", "", policy, transport=transport,
                                   headers={"Authorization": auth_header(api_key)})

    def close(self) -> None:
        self._client.close()

    def mutate(self, op: Operation, variables: dict[str, Any], field: str, result: str) -> Any:
        """Run a mutation; `success: false` or a missing result is an error, not a quiet no-op."""
        payload = self.execute(op, variables).get(field) or {}
        if not payload.get("success") or not payload.get(result):
            raise ConnectorError("linear", f"{op.name}: Linear answered success: false")
        return payload[result]

    def execute(self, op: Operation, variables: dict[str, Any]) -> dict[str, Any]:
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
                                           f"{self.policy.max_attempts} attempts",
                                 status=response.status_code, code="RATELIMITED", retryable=True)
        if errors:
            raise to_connector_error(op.name, response.status_code, errors)
        if response.status_code >= 400 or not isinstance(body.get("data"), dict):
            raise ConnectorError("linear", f"{op.name}: unexpected answer", status=response.status_code,
                                 retryable=response.status_code >= 500)
        data: dict[str, Any] = body["data"]
        return data

    def _post(self, op: Operation, variables: dict[str, Any]) -> tuple[httpx.Response, dict[str, Any]]:
        payload = {"query": op.document, "variables": variables, "operationName": op.name}
        try:
            response = self._client.post(self.api_url, json=payload,
                                         extensions={} if op.mutation else {"idempotent": True})
        except httpx.HTTPError as exc:
            raise ConnectorError("linear", f"{op.name}: request to Linear failed ({type(exc).__name__})",
                                 retryable=True, unreachable=unreachable(exc)) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ConnectorError("linear", f"{op.name}: the answer is not GraphQL JSON",
                                 status=response.status_code, retryable=response.status_code >= 500)
        return response, body

    def _rate_limit_delay(self, attempt: int, response: httpx.Response) -> float:
        """Retry-After when Linear sends it (bounded), else the shared policy's backoff."""
        return self.policy.wait_after(attempt, response.headers)


def error_code(error: Any) -> str | None:
    ext = error.get("extensions") if isinstance(error, dict) else None
    return ext.get("code") if isinstance(ext, dict) else None


def to_connector_error(op_name: str, status: int, errors: list[Any]) -> ConnectorError:
    """A GraphQL `errors` list as one clear, redacted line (Linear's user-facing message first)."""
    first: dict[str, Any] = errors[0] if isinstance(errors[0], dict) else {"message": str(errors[0])}
    ext: dict[str, Any] = first["extensions"] if isinstance(first.get("extensions"), dict) else {}
    text = str(ext.get("userPresentableMessage") or first.get("message") or "unknown error")
    text += f" (and {len(errors) - 1} more error(s))" if len(errors) > 1 else ""
    if ext.get("code") == "AUTHENTICATION_ERROR":
        text = f"authentication failed, check api_key: {text}"
    return ConnectorError("linear", redact(f"{op_name}: {text}"), status=status, code=ext.get("code"),
                          retryable=status >= 500)


def auth_header(key: str) -> str:
    """Personal API keys go bare in Authorization; OAuth access tokens as `Bearer <token>`."""
    return f"Bearer {key}" if key.startswith("lin_oauth_") else key
