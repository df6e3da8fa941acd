"""A poll's bulk create: a listing page's new records in a few calls instead of two per ticket.

For each connector that is a `BatchCreator`, the page's tickets that have no link there and
whose marker no record carries (the page's `find_many` said so) are created together:

1. hold their ticket locks — those free right now; a busy ticket is left to its worker;
2. claim them in one transaction: `creating` rows, the intent (docs/design.md invariant 1);
3. create the records (`create_many`) and record their ids, still `creating` (one transaction);
4. create all their children (`create_items_many`), then mark each link synced together with
   its children (one transaction).

This is the first half of `Reconciler.reconcile` for tickets where that half is known to be
"create", done for many at once, recorded the same way (`syncd.engine.records`); nothing else
decides anything here. A ticket that fails at
any step keeps its unfinished row and goes to its worker like every other ticket, and
`reconcile` finishes or repeats the work exactly as it does after a crash: it looks the marker
up, adopts what exists, creates what is missing. The write-back of the notes always stays with
the worker, one ticket at a time.
"""

from __future__ import annotations

from typing import Mapping

import structlog

from syncd import metrics
from syncd.engine import search_lag
from syncd.engine.outcome import Outcome
from syncd.engine.plan import Work
from syncd.engine.records import item_links, mark_synced
from syncd.errors import PartialItems
from syncd.redact import redact
from syncd.sdk import BatchCreator, Connector, Desired, ExternalRef
from syncd.store.database import ItemLink, Link, Store, utcnow
from syncd.store.locks import TicketLocks

log = structlog.get_logger("syncd.bulk")
Batch = list[tuple[Work, Link, Desired]]


def create_page(
    store: Store, connectors: Mapping[str, Connector], locks: TicketLocks, work: list[Work]
) -> None:
    """Per connector, one bulk create for the page's tickets whose marker no record carries."""
    for name, connector in connectors.items():
        if isinstance(connector, BatchCreator):
            new = [w for w in work if name in w.targets and not w.read_first and name in w.found
                   and w.found[name] is None]
            if new:
                _create_new(store, locks, connector, name, new)


def _create_new(
    store: Store, locks: TicketLocks, connector: BatchCreator, name: str, works: list[Work]
) -> None:
    """Create `name`'s records for `works` (all new there); each success lands in `Work.done`."""
    by_id = {w.ticket.id: w for w in works}
    try:
        with locks.try_hold_many(list(by_id)) as held:
            claimed = store.claim_creates([t for t in by_id if t in held], name)
            batch = _rendered(connector, [(by_id[t], link) for t, link in claimed.items()])
            if batch:
                _create(store, connector, name, batch)
    except Exception as exc:  # every unfinished row is finished by its ticket's worker
        log.warning("bulk create failed; its tickets are reconciled one by one", connector=name,
                    error=redact(str(exc)), error_type=type(exc).__name__)


def _rendered(connector: BatchCreator, claimed: list[tuple[Work, Link]]) -> Batch:
    out = []
    for work, link in claimed:
        try:
            out.append((work, link, connector.render(work.ticket)))
        except Exception:  # the worker renders it again and reports why it cannot
            continue
    return out


def _create(store: Store, connector: BatchCreator, name: str, batch: Batch) -> None:
    made = _create_records(store, connector, name, batch)
    finished = _create_children(store, connector, name, made)
    for work, ref in finished:  # only now: the store holds them as synced
        work.done[name] = Outcome(name, "created", ref)
        metrics.reconcile_outcomes.labels(name, "created").inc()
        metrics.bulk_creates.labels(name, "created").inc()


def _create_records(store: Store, connector: BatchCreator, name: str, batch: Batch
                    ) -> list[tuple[Work, Link, Desired, ExternalRef]]:
    """The parent records, their ids recorded at once (still `creating`: the children may fail)."""
    made = []
    answers = connector.create_many([(work.ticket, desired) for work, _, desired in batch])
    refused = []
    for (work, link, desired), answer in zip(batch, answers):
        if isinstance(answer, ExternalRef):
            link.external_id, link.external_key, link.external_url = answer.id, answer.key, answer.url
            link.create_sent_at = None
            log.info("created record", ticket_id=work.ticket.id, connector=name,
                     external_key=answer.key or answer.id, url=answer.url, bulk=True)
            made.append((work, link, desired, answer))
        else:
            _leave(work, name, answer)
            if search_lag.certainly_not_made(answer):  # its worker may try again at once
                link.create_sent_at = None
                refused.append(link)
    nothing: list[ItemLink] = []  # no children yet
    store.save_links([(link, nothing) for _, link, _, _ in made] + [(link, nothing) for link in refused])
    return made


def _create_children(store: Store, connector: BatchCreator, name: str,
                     made: list[tuple[Work, Link, Desired, ExternalRef]]) -> list[tuple[Work, ExternalRef]]:
    """Every parent's children, then one transaction: links synced, or left `creating` with what exists."""
    parents = [(ref, work.ticket, desired.items) for work, _, desired, ref in made if desired.items]
    answers = iter(connector.create_items_many(parents) if parents else [])
    saves: list[tuple[Link, list[ItemLink]]] = []
    finished = []
    for work, link, desired, ref in made:
        answer: dict[str, ExternalRef] | PartialItems = next(answers) if desired.items else {}
        partial = answer if isinstance(answer, PartialItems) else None
        kids: dict[str, ExternalRef] = answer.created if isinstance(answer, PartialItems) else answer
        if kids:
            log.info(
                "created child records", ticket_id=work.ticket.id, connector=name, count=len(kids), bulk=True
            )
        if partial is None:
            mark_synced(work.ticket, link, desired, None if work.assignee_from_note else utcnow())
            finished.append((work, ref))
        else:
            _leave(work, name, partial.cause)
        saves.append((link, item_links(desired, kids, partial.unfinished if partial else frozenset())))
    store.save_links(saves)
    return finished


def _leave(work: Work, name: str, error: Exception) -> None:
    """A ticket the bulk create could not finish: its worker will (marker look-up first)."""
    log.info("bulk create left a ticket to its worker", ticket_id=work.ticket.id, connector=name,
             error=redact(str(error)))
    metrics.bulk_creates.labels(name, "left").inc()
