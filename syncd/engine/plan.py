"""What a poll decides per listing page in the listing thread, before any worker runs.

A page of up to 100 tickets costs one store query (every link of the page), and each ticket
whose records and notes are already right is settled right there: render, hash, compare — no
thread, no further query, no call (`Reconciler.settled`). For the others it prepares what the
workers would otherwise ask one ticket at a time: the marker look-ups of tickets that have no
link yet, one `find_many` per connector for the whole page (`syncd.connector.BatchFinder`), and
whether a ticket must be read in full first because the listing omits its assignee. With the
marker look-ups done, `syncd.bulk` creates the page's new records in bulk before the workers run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import structlog

from syncd.engine import routing
from syncd.config import Config
from syncd.sdk.connector import BatchFinder, ExternalRef
from syncd.errors import TicketDataError
from syncd.models import Ticket
from syncd.engine.reconcile import Outcome, Reconciler, TicketResult
from syncd.redact import redact
from syncd.store.database import Link

log = structlog.get_logger("syncd.cycle")


@dataclass
class Work:
    """One ticket the listing thread could not settle, with what it learnt for the worker."""

    ticket: Ticket
    targets: list[str]
    found: dict[str, ExternalRef | None] = field(default_factory=dict)  # connector -> marker look-up
    read_first: bool = False  # a target renders the assignee, which the listing omits: GET the ticket
    assignee_from_note: bool = False  # ... or a link's note proved it (syncd.assignee_note)
    done: dict[str, Outcome] = field(default_factory=dict)  # connector -> created by syncd.bulk


class PagePlanner:
    def __init__(self, config: Config, reconciler: Reconciler) -> None:
        self.config = config
        self.reconciler = reconciler
        self.names = list(reconciler.connectors)

    def plan(self, raws: list[Any]) -> tuple[list[TicketResult], list[Work]]:
        """(results of the tickets settled here, work for the pool), in listing order."""
        done, routed = self._route(raws)
        links = self._links(t.id for t, _ in routed)
        work = []
        for ticket, targets in routed:
            if links is None:  # the store could not be read: each worker meets (and reports) it
                work.append(Work(ticket, targets))
                continue
            have = links.get(ticket.id, {})
            noted = self.reconciler.with_known_assignee(ticket, targets, have)
            result = self.reconciler.settled(noted, targets, have)
            if result is not None:
                done.append(result)
            else:
                work.append(Work(noted, targets, read_first=self.reconciler.lacks_assignee(noted, targets),
                                 assignee_from_note=noted is not ticket))
        if links is not None:
            self._look_up_markers(work, links)
        return done, work

    def _route(self, raws: list[Any]) -> tuple[list[TicketResult], list[tuple[Ticket, list[str]]]]:
        """Parse and route; bad data fails its ticket alone, a ticket no route takes is done."""
        done: list[TicketResult] = []
        routed = []
        for raw in raws:
            try:
                ticket = Ticket.parse(raw)
            except TicketDataError as exc:
                ident = raw.get("id", "?") if isinstance(raw, dict) else "?"
                log.error("bad ticket data", ticket_id=ident, error=str(exc))
                done.append(TicketResult(str(ident), error=str(exc)))
                continue
            targets = routing.route(ticket, self.config.routes, self.names)
            if targets:
                routed.append((ticket, targets))
            else:
                done.append(TicketResult(ticket.id))
        return done, routed

    def _links(self, ticket_ids: Iterable[str]) -> dict[str, dict[str, Link]] | None:
        try:
            return self.reconciler.store.links_for(ticket_ids)
        except Exception as exc:
            log.warning("reading the page's links failed; reconciling its tickets one by one",
                        error=redact(str(exc)))
            return None

    def _look_up_markers(self, work: list[Work], links: dict[str, dict[str, Link]]) -> None:
        """One batched marker look-up per connector for the page's tickets that have no link there."""
        for name, connector in self.reconciler.connectors.items():
            if not isinstance(connector, BatchFinder):
                continue
            new = [w for w in work if name in w.targets and name not in links.get(w.ticket.id, {})]
            if not new:
                continue
            try:
                found = connector.find_many([w.ticket for w in new])
            except Exception as exc:  # each worker then looks its marker up itself, as before
                log.warning("batched marker look-up failed", connector=name, error=redact(str(exc)))
                continue
            for item in new:
                if item.ticket.id in found:
                    item.found[name] = found[item.ticket.id]
