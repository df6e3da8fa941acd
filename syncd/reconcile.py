"""The one path every change takes: `Reconciler.reconcile(ticket)`.

For each (ticket, connector): render the desired record, compare its hash with the one last
applied, and only when they differ create or update — then write the references back into
the ticket's notes with at most one PATCH. Poll cycles and webhook events both end here.

Crash safety (DESIGN invariant 1): the link row is written in state `creating` before the
external create, and a link that is missing or still `creating` is looked up by its marker
before anything is created, so a crash, a retry or a lost database never makes a duplicate.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterator
from contextlib import contextmanager

import structlog

from syncd import metrics, notes
from syncd.connector import Connector, Desired, ExternalRef
from syncd.errors import SyncdError
from syncd.models import Ticket
from syncd.redact import redact
from syncd.store import ItemLink, Link, Store, utcnow

log = structlog.get_logger("syncd.reconcile")


class PartialItems(SyncdError):
    """Some child records were created before a failure; `created` must still be recorded."""

    def __init__(self, created: dict[str, ExternalRef], cause: Exception):
        self.created = created
        self.cause = cause
        super().__init__(str(cause))


@dataclass
class Outcome:
    connector: str
    action: str  # created / updated / unchanged / failed; dry run: would-create / would-update / would-adopt
    ref: ExternalRef | None = None
    error: str | None = None
    reason: str = ""


@dataclass
class TicketResult:
    ticket_id: str
    outcomes: list[Outcome] = field(default_factory=list)
    notes_written: bool = False
    notes_planned: bool = False
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None or any(o.action == "failed" for o in self.outcomes)


class TicketLocks:
    """Per-ticket mutual exclusion (DESIGN invariant 3): in this process, and across replicas.

    With a PostgreSQL store, a session advisory lock keyed by the ticket id is also held for the
    whole reconcile, so two replicas never work on one ticket at once.
    """

    def __init__(self, store_url: str | None = None) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._users: dict[str, int] = defaultdict(int)
        self._engine: Any = None
        if store_url and store_url.startswith("postgresql"):
            import sqlalchemy as sa

            self._engine = sa.create_engine(store_url, pool_size=4, max_overflow=16, pool_pre_ping=True)

    @contextmanager
    def hold(self, ticket_id: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(ticket_id, threading.Lock())
            self._users[ticket_id] += 1
        try:
            with lock, self._across_replicas(ticket_id):
                yield
        finally:
            with self._guard:
                self._users[ticket_id] -= 1
                if not self._users[ticket_id]:
                    del self._users[ticket_id], self._locks[ticket_id]

    @contextmanager
    def _across_replicas(self, ticket_id: str) -> Iterator[None]:
        if self._engine is None:
            yield
            return
        import hashlib

        import sqlalchemy as sa

        key = int.from_bytes(hashlib.sha256(f"syncd:{ticket_id}".encode()).digest()[:8], "big", signed=True)
        with self._engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()


class Reconciler:
    """Reconciles tickets against connectors, recording what was applied in the store."""

    def __init__(self, store: Store, cogny: Any, connectors: dict[str, Connector], *, dry_run: bool = False,
                 locks: TicketLocks | None = None):
        self.store = store
        self.cogny = cogny
        self.connectors = connectors
        self.dry_run = dry_run
        self.locks = locks or TicketLocks(str(store.engine.url.render_as_string(hide_password=False)))

    def reconcile(self, ticket: Ticket, targets: list[str]) -> TicketResult:
        """Bring every target in `targets` in line with `ticket`, then write references back."""
        with self.locks.hold(ticket.id), structlog.contextvars.bound_contextvars(ticket_id=ticket.id):
            result = TicketResult(ticket.id)
            links = {ln.connector: ln for ln in self.store.links_for_ticket(ticket.id)}  # one read for all
            for name in targets:
                result.outcomes.append(self._reconcile_one(ticket, self.connectors[name], links.get(name)))
            if any(o.action != "unchanged" for o in result.outcomes):
                links = {ln.connector: ln for ln in self.store.links_for_ticket(ticket.id)}
            try:
                self._write_back(ticket, result, list(links.values()))
            except Exception as exc:  # the records exist; the next reconcile retries the notes
                result.error = f"write-back: {redact(str(exc))}"
                metrics.writebacks.labels("failed").inc()
                log.error("write-back failed", error=result.error)
            return result

    # -- one connector ---------------------------------------------------------------------
    def _reconcile_one(self, ticket: Ticket, connector: Connector, link: Link | None) -> Outcome:
        with structlog.contextvars.bound_contextvars(connector=connector.name):
            try:
                outcome = self._apply(ticket, connector, link)
            except Exception as exc:
                message = redact(str(exc)) or type(exc).__name__
                self._note_failure(ticket.id, connector.name, message)
                log.error("reconcile failed", error=message, error_type=type(exc).__name__)
                outcome = Outcome(connector.name, "failed", error=message)
            metrics.reconcile_outcomes.labels(connector.name, outcome.action).inc()
            return outcome

    def _apply(self, ticket: Ticket, connector: Connector, link: Link | None) -> Outcome:
        desired = connector.render(ticket)
        wanted_hash = desired.hash()
        if link and link.state == "synced" and link.applied_hash == wanted_hash:
            return Outcome(connector.name, "unchanged", _ref(link))
        if link and link.state == "synced" and _older(ticket, link):
            # A poll's listing can be older than the fresh GET a webhook reconcile used: never let
            # stale data revert a newer state (the next reconcile with fresh data converges).
            return Outcome(connector.name, "unchanged", _ref(link), reason="ticket data older than applied")
        if self.dry_run:
            return self._plan(ticket, connector, link, desired)
        if link is None:
            link = self.store.begin_create(ticket.id, connector.name)
        trusted = link.state == "synced"
        previous = Desired.from_json(link.applied) if trusted else None
        ref, action = self._ensure_record(ticket, connector, link, desired, previous, trusted)
        # a record created just now has no children to recover; a trusted one has them in the store
        self._ensure_items(ticket, connector, link, ref, desired, previous, trusted or action == "created")
        link.state, link.applied_hash = "synced", wanted_hash
        link.applied = {**desired.to_json(), "source_updated_at": ticket.updated_at}
        link.synced_at, link.last_error = utcnow(), None
        self.store.save_link(link)
        return Outcome(connector.name, action, ref)

    def _ensure_record(self, ticket: Ticket, connector: Connector, link: Link, desired: Desired,
                       previous: Desired | None, trusted: bool) -> tuple[ExternalRef, str]:
        ref = _ref(link) if link.external_id else None
        if ref is None:
            ref = connector.find(ticket)
            if ref is not None:
                log.info("found existing record by marker", external_key=ref.key or ref.id)
        if ref is None:
            ref = connector.create(ticket, desired)
            link.external_id, link.external_key, link.external_url = ref.id, ref.key, ref.url
            self.store.save_link(link)  # still `creating` until the children are recorded too
            log.info("created record", external_key=ref.key or ref.id, url=ref.url)
            return ref, "created"
        if not trusted or previous is None or previous.record != desired.record:
            new_ref = connector.update(ref, ticket, desired, previous) or ref
            log.info("updated record", external_key=new_ref.key or new_ref.id)
            ref = new_ref
        link.external_id, link.external_key, link.external_url = ref.id, ref.key, ref.url
        return ref, "updated"

    def _ensure_items(self, ticket: Ticket, connector: Connector, link: Link, ref: ExternalRef,
                      desired: Desired, previous: Desired | None, trusted: bool) -> None:
        if not desired.items:
            return
        assert link.id is not None
        known = self.store.items(link.id)
        if not trusted:  # the store may have missed children created before a crash
            for key, item_ref in connector.find_items(ref).items():
                if key not in known:
                    known[key] = ItemLink(key, item_ref.id, item_ref.key, None)
        missing = {k: v for k, v in desired.items.items() if k not in known}
        if missing:
            try:
                made = connector.create_items(ref, ticket, missing)
            except PartialItems as exc:
                self._record_items(link.id, desired, exc.created)
                raise exc.cause from None
            self._record_items(link.id, desired, made)
            log.info("created child records", count=len(made))
        changed: list[ItemLink] = []
        for key, item in known.items():
            if key not in desired.items or item.applied_hash == desired.item_hash(key):
                continue
            before = previous.items.get(key) if previous and item.applied_hash else None
            connector.update_item(ref, ExternalRef(item.external_id, item.external_key), desired.items[key], before)
            item.applied_hash = desired.item_hash(key)
            item.completed = bool(desired.items[key].get("completed"))
            changed.append(item)
        if changed:
            self.store.save_items(link.id, changed)
            log.info("updated child records", count=len(changed))

    def _record_items(self, link_id: int, desired: Desired, made: dict[str, ExternalRef]) -> None:
        self.store.save_items(link_id, [
            ItemLink(k, r.id, r.key, desired.item_hash(k), bool(desired.items[k].get("completed")))
            for k, r in made.items()])

    def _plan(self, ticket: Ticket, connector: Connector, link: Link | None, desired: Desired) -> Outcome:
        if link is None or link.state != "synced":
            ref = _ref(link) if link and link.external_id else connector.find(ticket)
            if ref is None:
                return Outcome(connector.name, "would-create",
                               reason=f"new record with {len(desired.items)} child record(s)")
            return Outcome(connector.name, "would-adopt", ref, reason="record found by marker; bring it up to date")
        previous = Desired.from_json(link.applied)
        return Outcome(connector.name, "would-update", _ref(link), reason=_what_changed(previous, desired))

    def _note_failure(self, ticket_id: str, connector: str, message: str) -> None:
        if self.dry_run:
            return
        try:
            link = self.store.get_link(ticket_id, connector)
            if link is not None:
                link.last_error = message[:2000]
                self.store.save_link(link)
        except Exception as exc:  # the store itself failing is reported by the caller's summary
            log.warning("could not record failure", error=redact(str(exc)))

    # -- write-back ------------------------------------------------------------------------
    def _write_back(self, ticket: Ticket, result: TicketResult, known: list[Link]) -> None:
        links = [ln for ln in known if ln.external_id and ln.connector in self.connectors]
        if not links:
            return
        wanted = {ln.id: notes.line_for(self.connectors[ln.connector].label, ln.external_key, ln.external_url)
                  for ln in links}
        confirmed = all(ln.notes_line == wanted[ln.id] for ln in links)
        if confirmed and ticket.notes is None:
            return  # the listing omits notes; the store says our lines are there
        if self.dry_run:
            result.notes_planned = not confirmed
            return
        stale = [ln.notes_line for ln in links if ln.notes_line and ln.notes_line != wanted[ln.id]]
        if ticket.notes is not None and notes.merge(ticket.notes, wanted.values(), stale) == ticket.notes:
            current = ticket.notes  # already right; nothing to write
        else:
            # PATCH replaces the whole string: read it fresh, under the ticket lock, right before
            # writing — the copy we were handed may predate another reconcile's write-back.
            current = self.cogny.get_ticket(ticket.id).get("notes")
        merged = notes.merge(current, wanted.values(), stale)
        if merged != (current or ""):
            self.cogny.update_ticket(ticket.id, notes=merged)
            result.notes_written = True
            metrics.writebacks.labels("written").inc()
        self.store.set_notes_lines((ln.id, wanted[ln.id]) for ln in links if ln.notes_line != wanted[ln.id])


def _older(ticket: Ticket, link: Link) -> bool:
    applied_at = (link.applied or {}).get("source_updated_at")
    return bool(applied_at and ticket.updated_at and _ts(ticket.updated_at) < _ts(applied_at))


def _ts(stamp: str) -> str:
    """ISO 8601 in UTC compares as text once the zone suffix is uniform."""
    return stamp.replace("+00:00", "Z")


def _ref(link: Link) -> ExternalRef:
    return ExternalRef(link.external_id or "", link.external_key, link.external_url)


def _what_changed(previous: Desired | None, desired: Desired) -> str:
    if previous is None:
        return "no record of what was applied; re-apply"
    changed = sorted(k for k in set(previous.record) | set(desired.record)
                     if previous.record.get(k) != desired.record.get(k))
    new_items = [k for k in desired.items if k not in previous.items]
    item_changes = [k for k in desired.items if k in previous.items and previous.items[k] != desired.items[k]]
    bits = []
    if changed:
        bits.append("fields: " + ", ".join(changed))
    if new_items:
        bits.append(f"{len(new_items)} new child record(s)")
    if item_changes:
        bits.append(f"{len(item_changes)} child record(s) changed")
    return "; ".join(bits) or "connector settings changed"
