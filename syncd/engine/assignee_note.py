"""The ticket's assignee, remembered with a link, for polls: Cogny's listing omits `assignee`.

A connector with an `assignee_map` renders the assignee, which only a full read of the ticket
(GET) tells. So that a poll need not read every ticket in full every time, a link's `applied`
JSON keeps a note: who the assignee was, as of which `updated_at`. A listing that shows the
same `updated_at` shows the same ticket — with one catch: Cogny's timestamps have whole seconds,
so a change in the same second as our read leaves `updated_at` as it was. A note proves the
assignee for an equal `updated_at` only once it is *sealed*: read at least a second after that
`updated_at`, by our clock less `SEAL_MARGIN` for the clocks' skew (the margin the cycle's sweep
allows too). Until then the next poll reads the ticket again; after that, it costs nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

import structlog

from syncd.models import Ticket
from syncd.redact import redact
from syncd.sdk import Connector
from syncd.store.database import Link, Store

log = structlog.get_logger("syncd.reconcile")

KEY = "cogny_assignee"  # {"id": Cogny user id or None, "as_of": updated_at, "sealed": bool}
SEAL_MARGIN = timedelta(minutes=5)


def make(assignee: str | None, as_of: str | None, read_at: datetime) -> dict[str, Any]:
    """A note about a ticket read in full at (no earlier than) `read_at`, our clock."""
    changed = parse(as_of)
    sealed = changed is not None and changed + timedelta(seconds=1) <= read_at - SEAL_MARGIN
    return {"id": assignee, "as_of": as_of, "sealed": sealed}


def usable(note: Any, listed_updated_at: str | None) -> bool:
    """Whether `note` tells the assignee of a ticket listed with `listed_updated_at`.

    A note newer than the listing is fine too: that listing is stale, and reconcile never lets
    stale data revert a newer state anyway.
    """
    if not isinstance(note, dict):
        return False
    listed, known = parse(listed_updated_at), parse(note.get("as_of"))
    if listed is None or known is None:
        return False
    return listed < known or (listed == known and note.get("sealed") is True)


def same(note: Any, other: dict[str, Any]) -> bool:
    return isinstance(note, dict) and all(note.get(k) == v for k, v in other.items())


def parse(stamp: str | None) -> datetime | None:
    if not stamp:
        return None
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


# -- the notes kept with links, for the engine ---------------------------------------------------
def maps_assignees(connector: Connector) -> bool:
    """Whether `connector` renders the ticket's assignee (so it needs it: a listing omits it)."""
    return bool(getattr(getattr(connector, "settings", None), "assignee_map", None))


def lacks(ticket: Ticket, targets: list[str], connectors: Mapping[str, Connector]) -> bool:
    """A target renders the assignee and `ticket` (a listing's) does not say who it is."""
    return "assignee" not in ticket.model_fields_set and any(maps_assignees(connectors[n]) for n in targets)


def with_known(ticket: Ticket, targets: list[str], links: Mapping[str, Link],
               connectors: Mapping[str, Connector]) -> Ticket:
    """`ticket` completed with the assignee a link's note proves for it, when one does."""
    if not lacks(ticket, targets, connectors):
        return ticket
    for link in links.values():
        note = of_link(link)
        if usable(note, ticket.updated_at):
            return ticket.model_copy(update={"assignee": note["id"]})
    return ticket


def for_link(ticket: Ticket, link: Link, read_at: datetime | None) -> Any:
    """A note of the assignee of a ticket read in full, else the link's note so far (it stays true)."""
    if read_at is not None and "assignee" in ticket.model_fields_set:
        return make(ticket.assignee, ticket.updated_at, read_at)
    return of_link(link)


def of_link(link: Link) -> Any:
    if not (link.applied_json and KEY in link.applied_json):  # skip parsing the others
        return None
    return (link.applied or {}).get(KEY)


def remember(
    store: Store, ticket: Ticket, connector: Connector, link: Link, read_at: datetime | None
) -> None:
    """An unchanged link keeps a note of the fully read ticket's assignee, for later polls."""
    if read_at is None or not maps_assignees(connector):
        return
    note = for_link(ticket, link, read_at)
    blob = link.applied
    if note is None or blob is None or same(blob.get(KEY), note):
        return
    link.applied = {**blob, KEY: note}
    try:
        store.save_link(link)
    except Exception as exc:  # only a shortcut for the next poll is lost
        log.warning("could not note the assignee", error=redact(str(exc)))
