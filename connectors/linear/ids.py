"""The ids syncd gives Linear issues and the marker it stamps on them: pure functions of the ticket id.

Linear takes a client-chosen `id` on create, so syncd derives it (a retry after a timeout finds the
issue it may have made by that id) and attaches a marker (an attachment whose url names the
ticket) that `find` looks up when the store was lost.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any
from urllib.parse import quote

from syncd.sdk import ExternalRef, Ticket, render

_ID_NAMESPACE = b"syncd/linear/v1"
RECREATIONS = 8  # how many times one ticket's issue can be made again after people deleted it
MARKER_BASE = "https://app.cogny.com/tickets/"  # Cogny's ticket url: markers stamped before stay valid


def issue_id(team_id: str, ticket_id: str) -> str:
    """The id syncd gives the issue of `ticket_id` in `team_id`: derived, so a retry can find it."""
    return _derived(f"issue:{team_id}:{ticket_id}")


def marker_fields(ref: ExternalRef, ticket: Ticket) -> dict[str, Any]:
    """attachmentCreate's input: the marker on the issue `ref`."""
    return {"issueId": ref.id, "url": marker_url(ticket.id), "title": f"Cogny ticket {ticket.id}",
            "metadata": {"ticketId": ticket.id}}


def issue_ids(team_id: str, ticket_id: str) -> list[str]:
    """The ids the issue of `ticket_id` may have: `issue_id`, then one per record made again after
    a person deleted the previous one (`on_deleted: recreate`); bounded, so a look-up is one call."""
    return [issue_id(team_id, ticket_id)] + [_derived(f"issue:{team_id}:{ticket_id}:{n}")
                                              for n in range(2, RECREATIONS + 2)]


def item_id(parent_id: str, key: str) -> str:
    return _derived(f"item:{parent_id}:{key}")


def _derived(seed: str) -> str:
    """A UUID in v4 format (what Linear's `id` input asks for) that is a pure function of `seed`."""
    return str(uuid.UUID(bytes=hashlib.sha256(_ID_NAMESPACE + seed.encode()).digest()[:16], version=4))


def marker_url(ticket_id: str) -> str:
    """The marker attachment's url, from the (checked) ticket id alone: never from ticket data."""
    return MARKER_BASE + quote(render.checked_id(ticket_id), safe="")
