"""What a link records once its target is in line: the applied record, its children, the assignee note.

Shared by the two ways records are made — one ticket at a time (`reconcile`) and a listing page
at a time (`bulk`) — so both leave the store exactly alike.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from syncd.engine import assignee_note
from syncd.models import Ticket
from syncd.sdk import Desired, ExternalRef
from syncd.store.database import ItemLink, Link, utcnow


def mark_synced(ticket: Ticket, link: Link, desired: Desired, read_at: datetime | None,
                wanted_hash: str | None = None) -> None:
    """Set what a link holds once its record and children are in line with `desired`."""
    link.state, link.applied_hash = "synced", wanted_hash or desired.hash()
    link.applied = applied_blob(ticket, desired, assignee_note.for_link(ticket, link, read_at))
    link.synced_at, link.last_error = utcnow(), None


def applied_blob(ticket: Ticket, desired: Desired, note: Any) -> dict[str, Any]:
    """What a link records as applied: the desired record, what it was rendered from, the assignee note."""
    blob: dict[str, Any] = {**desired.to_json(), "source_updated_at": ticket.updated_at}
    if note is not None:
        blob[assignee_note.KEY] = note
    return blob


def item_links(desired: Desired, made: dict[str, ExternalRef], unfinished: frozenset[str] = frozenset()
               ) -> list[ItemLink]:
    """The store's rows for children just made, as `desired` rendered them (`unfinished`: not applied)."""
    return [ItemLink(k, r.id, r.key, None, False) if k in unfinished else
            ItemLink(k, r.id, r.key, desired.item_hash(k), bool(desired.items[k].get("completed")))
            for k, r in made.items()]


def ref_of(link: Link) -> ExternalRef:
    """The record a link points at."""
    return ExternalRef(link.external_id or "", link.external_key, link.external_url)
