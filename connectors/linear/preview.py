"""What `syncd render` shows for Linear: the GraphQL requests a create would send, built, not sent.

The team and its workflow states are read (to resolve ids); nothing is written. Ids Linear has
not given yet are the derived ones syncd sends itself (`issue_ids`, `item_id`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectors.linear.graphql import ATTACHMENT_CREATE, ISSUE_BATCH_CREATE, ISSUE_CREATE, Operation
from syncd.sdk import Desired, ExternalRef, Ticket

if TYPE_CHECKING:
    from connectors.linear.connector import LinearConnector


def preview(connector: LinearConnector, ticket: Ticket, desired: Desired) -> list[dict[str, Any]]:
    from connectors.linear.connector import issue_ids, item_id, marker_fields

    team = connector.team()
    parent = ExternalRef(issue_ids(team.id, ticket.id)[0])
    requests = [
        _graphql(ISSUE_CREATE, {"input": {"id": parent.id, **connector.issue_fields(team, desired.record)}})
    ]
    if desired.items:
        children = [connector.child_fields(team, parent, item_id(parent.id, key), item)
                    for key, item in desired.items.items()]
        requests.append(_graphql(ISSUE_BATCH_CREATE, {"input": {"issues": children}}))
    requests.append(_graphql(ATTACHMENT_CREATE, {"input": marker_fields(parent, ticket)}))
    return requests


def _graphql(op: Operation, variables: dict[str, Any]) -> dict[str, Any]:
    return {"method": "POST", "path": "/graphql", "body": {"query": op.document, "variables": variables}}
