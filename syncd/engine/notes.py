"""Write-back: the ticket's notes keep the user's text and gain one line per linked connector.

`line_for` formats a line (`gone_line` for a record a person deleted), `merge` puts the wanted
lines into the notes (the user's text kept, our stale lines dropped), and `write_back` sends the
one PATCH a reconcile may make.
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable, Mapping

from syncd import metrics
from syncd.engine.outcome import CognyAPI
from syncd.models import Ticket
from syncd.sdk import Connector
from syncd.store.database import Link, Store


def line_for(label: str, key: str | None, url: str | None) -> str:
    """`Synced to JIRA: GROWTH-12 https://…/browse/GROWTH-12`."""
    return f"Synced to {label}: " + " ".join(part for part in (key, url) if part)


def gone_line(label: str, key: str | None, how: str | None, when: datetime | None) -> str:
    """`JIRA: GROWTH-1 deleted in JIRA on 2026-12-05`: the line of a record a person deleted."""
    day = f" on {when.date().isoformat()}" if when else ""
    return f"{label}: {key or 'record'} {how or 'deleted'}{day}"


def line_of(label: str, link: Link) -> str:
    """The notes line a link wants: where its record is, or that it was deleted."""
    if link.state == "gone":
        return gone_line(label, link.external_key or link.external_id, link.gone_how, link.gone_at)
    return line_for(label, link.external_key, link.external_url)


def merge(notes: str | None, wanted: Iterable[str], stale: Iterable[str] = ()) -> str:
    """Notes with every `wanted` line present once, `stale` lines (our own old ones) removed.

    Everything else — the user's text, in its order — is kept as is.
    """
    wanted = list(dict.fromkeys(wanted))
    drop = set(stale) - set(wanted)
    lines = (notes or "").splitlines()
    kept: list[str] = []
    seen: set[str] = set()
    for line in lines:
        if line in drop:
            continue
        if line in wanted:
            if line in seen:
                continue  # a second copy of our line: never keep two
            seen.add(line)
        kept.append(line)
    missing = [line for line in wanted if line not in seen]
    if missing:
        while kept and not kept[-1].strip():
            kept.pop()
        if kept and kept[-1] not in seen:
            kept.append("")  # one blank line between the user's text and our block
        kept.extend(missing)
    return "\n".join(kept)


# -- the lines a ticket's links want, and the one PATCH that writes them ---------------------------
def wanted_lines(
    known: Iterable[Link], connectors: Mapping[str, Connector]
) -> tuple[list[Link], dict[int | None, str]]:
    """The links that have a record in a configured connector, and each one's notes line."""
    links = [ln for ln in known if ln.external_id and ln.connector in connectors]
    return links, {ln.id: line_of(connectors[ln.connector].label, ln) for ln in links}


def settled(ticket: Ticket, known: Iterable[Link], connectors: Mapping[str, Connector]) -> bool:
    """The notes carry every link's line and the store knows it: `write_back` would do nothing."""
    links, wanted = wanted_lines(known, connectors)
    if any(ln.notes_line != wanted[ln.id] for ln in links):
        return False
    return ticket.notes is None or merge(ticket.notes, wanted.values()) == ticket.notes


def write_back(cogny: CognyAPI, store: Store, ticket: Ticket, known: Iterable[Link],
               connectors: Mapping[str, Connector], *, dry_run: bool = False) -> tuple[bool, bool]:
    """Merge the links' lines into the ticket's notes with at most one PATCH; (written, planned).

    Called under the ticket's lock. The store remembers each link's line, so a listing that omits
    the notes still tells whether they are right.
    """
    links, wanted = wanted_lines(known, connectors)
    if not links:
        return False, False
    confirmed = all(ln.notes_line == wanted[ln.id] for ln in links)
    if confirmed and ticket.notes is None:
        return False, False  # the listing omits notes; the store says our lines are there
    if dry_run:
        return False, not confirmed
    stale = [ln.notes_line for ln in links if ln.notes_line and ln.notes_line != wanted[ln.id]]
    current: str | None
    if ticket.notes is not None and merge(ticket.notes, wanted.values(), stale) == ticket.notes:
        current = ticket.notes  # already right; nothing to write
    else:
        # PATCH replaces the whole string: read it fresh, under the ticket lock, right before
        # writing — the copy we were handed may predate another reconcile's write-back.
        current = cogny.get_ticket(ticket.id).get("notes")
    merged = merge(current, wanted.values(), stale)
    written = merged != (current or "")
    if written:
        cogny.update_ticket(ticket.id, notes=merged)
        metrics.writebacks.labels("written").inc()
    store.set_notes_lines(
        (ln.id, wanted[ln.id]) for ln in links if ln.id is not None and ln.notes_line != wanted[ln.id]
    )
    return written, False
