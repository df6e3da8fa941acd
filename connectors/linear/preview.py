"""What `syncd render` shows for Linear: the GraphQL requests a create would send, built, not sent.

The connector resolves the team and its workflow states (reads) and builds the inputs; the ids
Linear has not given yet are the derived ones syncd sends itself (`connectors.linear.ids`).
"""

from __future__ import annotations

from typing import Any

from connectors.linear.graphql import ATTACHMENT_CREATE, ISSUE_BATCH_CREATE, ISSUE_CREATE, Operation
from connectors.linear.ids import marker_fields
from syncd.sdk import ExternalRef, Ticket


def preview(parent: ExternalRef, issue: dict[str, Any], children: list[dict[str, Any]],
            ticket: Ticket) -> list[dict[str, Any]]:
    """issueCreate for the issue `parent` will be, issueBatchCreate for its sub-issues, the marker."""
    requests = [_graphql(ISSUE_CREATE, {"input": {"id": parent.id, **issue}})]
    if children:
        requests.append(_graphql(ISSUE_BATCH_CREATE, {"input": {"issues": children}}))
    requests.append(_graphql(ATTACHMENT_CREATE, {"input": marker_fields(parent, ticket)}))
    return requests


def _graphql(op: Operation, variables: dict[str, Any]) -> dict[str, Any]:
    return {"method": "POST", "path": "/graphql", "body": {"query": op.document, "variables": variables}}
