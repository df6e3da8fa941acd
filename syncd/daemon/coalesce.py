"""Bursts coalesced: the new tickets of several claimed events created together, as a poll page's are.

When the inbox worker claims the events of several tickets at once (`Worker.prepare`), the tickets
named by a Cogny `ticket.created` event are fetched (a few GETs at a time), planned like a listing
page (`PagePlanner`: one store query, one marker look-up per connector) and their missing records
created in `issue/bulk`-style calls (`syncd.engine.bulk`, the poll's own code). Nothing is marked
done here: each claim is then processed on its own as before, and its reconcile finds the record
synced and writes the notes back. Whatever fails here is simply left to that per-claim path.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import structlog

from syncd.config import Config
from syncd.engine import bulk
from syncd.engine.app import App
from syncd.engine.listing import filters_match
from syncd.engine.plan import PagePlanner
from syncd.errors import TicketDataError
from syncd.models import Ticket
from syncd.redact import redact
from syncd.store.inbox import Claim
from syncd.store.locks import TicketLocks

log = structlog.get_logger("syncd.coalesce")
FETCHERS = 8  # Cogny GETs in flight while a burst's tickets are read


def new_tickets(claims: list[Claim]) -> list[str]:
    """The ticket ids of the claims that hold a Cogny `ticket.created` event, in claim order."""
    return [c.ticket_id for c in claims if c.ticket_id is not None
            and any(e.source == "cogny" and e.type == "ticket.created" for e in c.events)]


def create_new(app: App, config: Config, locks: TicketLocks, claims: list[Claim]) -> int:
    """Create the records the claimed new tickets lack, together; the number of tickets created."""
    ids = new_tickets(claims)
    if len(ids) < 2:  # one ticket: its own reconcile is as quick
        return 0
    linked = app.store.links_for(ids)  # e.g. prepared by an earlier batch, then handed back
    ids = [tid for tid in ids if not linked.get(tid)]
    if len(ids) < 2:
        return 0
    with ThreadPoolExecutor(max_workers=min(FETCHERS, len(ids)), thread_name_prefix="coalesce") as pool:
        raws = [raw for raw in pool.map(lambda tid: _fetch(app, tid), ids) if raw is not None]
    raws = [raw for raw in raws if _inside(raw, config)]
    _, work = PagePlanner(config, app.store, app.connectors).plan(raws)
    if not work:
        return 0
    bulk.create_page(app.store, app.connectors, locks, work)
    created = sum(1 for w in work if w.done)
    log.info("burst created together", tickets=len(work), created=created)
    return created


def _fetch(app: App, ticket_id: str) -> dict[str, Any] | None:
    try:
        return app.cogny.get_ticket(ticket_id)
    except Exception as exc:  # gone, or Cogny failing: the claim's own processing says so
        log.info("burst ticket not read; left to its event", ticket_id=ticket_id, error=redact(str(exc)))
        return None


def _inside(raw: dict[str, Any], config: Config) -> bool:
    """Only tickets inside the filters (a new ticket has no link yet that would keep it in scope)."""
    try:
        return filters_match(Ticket.parse(raw), config.cogny)
    except TicketDataError:
        return False  # reported by the claim's own processing
