"""What a poll decides per listing page, before any worker runs; it writes nothing.

A page of up to 100 tickets costs one store query (every link of the page). Each ticket whose
records and notes are already right is settled right here (`settled`: render, hash, compare —
no thread, no further query, no call). For the others it prepares what the workers would
otherwise ask one ticket at a time: the marker look-ups of tickets that have no link yet, one
`find_many` per connector for the whole page (`syncd.sdk.BatchFinder`), and whether a ticket
must be read in full first because the listing omits its assignee. The cycle then hands the
page's new records to `bulk` and the rest of the work to `reconcile`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import structlog

from syncd import metrics
from syncd.config import Config, recreating_connectors
from syncd.engine import assignee_note, notes, routing
from syncd.engine.breaker import Breaker
from syncd.engine.outcome import Outcome, TicketResult
from syncd.engine.records import ref_of
from syncd.errors import TicketDataError
from syncd.models import Ticket
from syncd.redact import redact
from syncd.sdk import BatchFinder, Connector, ExternalRef
from syncd.store.database import Link, Store

log = structlog.get_logger("syncd.cycle")
Links = dict[str, dict[str, Link]]  # ticket id -> connector -> link


@dataclass
class Work:
    """One ticket the listing thread could not settle, with what it learnt for the worker."""

    ticket: Ticket
    targets: list[str]
    found: dict[str, ExternalRef | None] = field(default_factory=dict)  # connector -> marker look-up
    read_first: bool = False  # a target renders the assignee, which the listing omits: GET the ticket
    assignee_from_note: bool = False  # ... or a link's note proved it (syncd.engine.assignee_note)
    done: dict[str, Outcome] = field(default_factory=dict)  # connector -> created by syncd.engine.bulk


class PagePlanner:
    """Plans listing pages for one cycle's store and connectors."""

    def __init__(self, config: Config, store: Store, connectors: Mapping[str, Connector]) -> None:
        self.config = config
        self.store = store
        self.connectors = connectors
        self.recreate = recreating_connectors(config)
        self.breaker: Breaker | None = None  # the cycle's: switched-off targets get no look-up

    def plan(self, raws: list[Any]) -> tuple[list[TicketResult], list[Work]]:
        """(results of the tickets settled here, work for the pool), in listing order."""
        done, routed = self._route(raws)
        links = self._links(t.id for t, _ in routed)
        if links is None:  # the store could not be read: each worker meets (and reports) it
            return done, [Work(ticket, targets) for ticket, targets in routed]
        work = []
        for ticket, targets in routed:
            have = links.get(ticket.id, {})
            noted = assignee_note.with_known(ticket, targets, have, self.connectors)
            result = settled(noted, targets, have, self.connectors, self.recreate)
            if result is not None:
                done.append(result)
            else:
                work.append(Work(noted, targets, assignee_from_note=noted is not ticket,
                                 read_first=assignee_note.lacks(noted, targets, self.connectors)))
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
            targets = routing.route(ticket, self.config.routes, list(self.connectors))
            if targets:
                routed.append((ticket, targets))
            else:
                done.append(TicketResult(ticket.id))
        return done, routed

    def _links(self, ticket_ids: Iterable[str]) -> Links | None:
        try:
            return self.store.links_for(ticket_ids)
        except Exception as exc:
            log.warning("reading the page's links failed; reconciling its tickets one by one",
                        error=redact(str(exc)))
            return None

    def _look_up_markers(self, work: list[Work], links: Links) -> None:
        """One batched marker look-up per connector for the page's tickets that have no link there."""
        for name, connector in self.connectors.items():
            if not isinstance(connector, BatchFinder) or (self.breaker and self.breaker.off(name)):
                continue
            new = [w for w in work if name in w.targets and name not in links.get(w.ticket.id, {})]
            if not new:
                continue
            try:
                found = connector.find_many([w.ticket for w in new])
            except Exception as exc:  # each worker then looks its marker up itself, as before
                log.warning("batched marker look-up failed", connector=name, error=redact(str(exc)))
                if self.breaker:
                    self.breaker.observe(name, exc)
                continue
            for item in new:
                if item.ticket.id in found:
                    item.found[name] = found[item.ticket.id]


def settled(
    ticket: Ticket,
    targets: list[str],
    links: Mapping[str, Link],
    connectors: Mapping[str, Connector],
    recreate: frozenset[str] = frozenset(),
) -> TicketResult | None:
    """The result of a reconcile that would do nothing at all, else None; no I/O, no lock.

    Every target holds exactly this ticket's render (or its record was deleted by a person and
    stays so: `recreate` names the connectors that make a new one) and the notes are known to
    carry every link: a poll skips such tickets without a thread, a query or a call. Deciding this from
    links read outside the ticket lock is safe, because the decision writes nothing.
    """
    outcomes = []
    for name in targets:
        link = links.get(name)
        if link is not None and link.state == "gone" and name not in recreate:
            outcomes.append(Outcome(name, "gone", ref_of(link), reason=link.gone_how or "deleted"))
            continue
        if (
            link is None
            or link.state != "synced"
            or link.applied_hash != _hash_or_none(connectors[name], ticket)
        ):
            return None
        outcomes.append(Outcome(name, "unchanged", ref_of(link)))
    if not notes.settled(ticket, links.values(), connectors):
        return None
    for outcome in outcomes:
        metrics.reconcile_outcomes.labels(outcome.connector, outcome.action).inc()
    return TicketResult(ticket.id, outcomes)


def _hash_or_none(connector: Connector, ticket: Ticket) -> str | None:
    try:
        return connector.render(ticket).hash()
    except Exception:  # reconcile reports it, with the connector's context
        return None
