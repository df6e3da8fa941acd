"""The one path every change takes: `Reconciler.reconcile(ticket)`.

For each (ticket, connector): render the desired record, compare its hash with the one last
applied, and only when they differ create or update — then write the references back into
the ticket's notes with at most one PATCH (`notes.write_back`). Poll cycles and webhook events
both end here; a poll first settles what needs no work (`plan`) and creates a page's new
records together (`bulk`), which record their work the same way (`records`).

Records people delete in a target (docs/design.md, "gone records"): a connector that is told
"no such record" raises `RecordGone`; the link moves to state `gone` and costs no call again,
unless the connector's `on_deleted: recreate` asks for one new record on the next reconcile.

Crash safety (docs/design.md invariant 1): the link row is written in state `creating` before the
external create, and a link that is missing or still `creating` is looked up by its marker
before anything is created, so a crash, a retry or a lost database never makes a duplicate.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

import structlog

from syncd import metrics
from syncd.engine import assignee_note, notes, search_lag
from syncd.engine.breaker import SWITCHED_OFF, Breaker
from syncd.engine.outcome import Action, CognyAPI, Outcome, TicketResult
from syncd.engine.records import item_links, mark_synced, ref_of
from syncd.errors import PartialItems, RecordGone
from syncd.models import Ticket
from syncd.redact import redact
from syncd.sdk import Connector, Desired, ExternalRef
from syncd.store.database import ItemLink, Link, Store, utcnow
from syncd.store.locks import TicketLocks

log = structlog.get_logger("syncd.reconcile")


class Reconciler:
    """Reconciles tickets against connectors, recording what was applied in the store."""

    def __init__(
        self,
        store: Store,
        cogny: CognyAPI,
        connectors: dict[str, Connector],
        *,
        dry_run: bool = False,
        locks: TicketLocks | None = None,
        recreate: frozenset[str] = frozenset(),
    ):
        self.store = store
        self.cogny = cogny
        self.connectors = connectors
        self.dry_run = dry_run
        self.recreate = recreate  # connectors with `on_deleted: recreate`
        self.breaker: Breaker | None = None  # set by a cycle for its duration (syncd.engine.breaker)
        self.locks = locks or TicketLocks(str(store.engine.url.render_as_string(hide_password=False)))

    def reconcile(
        self,
        ticket: Ticket,
        targets: list[str],
        *,
        found: Mapping[str, ExternalRef | None] | None = None,
        assignee_from_note: bool = False,
        done: Mapping[str, Outcome] | None = None,
    ) -> TicketResult:
        """Bring every target in `targets` in line with `ticket`, then write references back.

        `found` holds marker look-ups already made for this ticket (connector -> record, None when
        no record carries the marker), e.g. by one batched search per listing page. One is used only
        when the store has no link at all for that connector; otherwise `find` is asked as usual.
        `assignee_from_note`: the ticket's assignee comes from a link's note, not from reading it.
        `done`: targets this cycle has already brought in line (a page's bulk create, syncd.engine.bulk),
        with their outcome; only the write-back is left for them.
        """
        with self.locks.hold(ticket.id), structlog.contextvars.bound_contextvars(ticket_id=ticket.id):
            result = TicketResult(ticket.id)
            # when the assignee was read: no later than now (see syncd.engine.assignee_note)
            read_at = None if assignee_from_note else utcnow()
            links = {ln.connector: ln for ln in self.store.links_for_ticket(ticket.id)}  # one read for all
            for name in targets:
                if done and name in done:
                    result.outcomes.append(done[name])
                    continue
                outcome, link = self._reconcile_one(
                    ticket, self.connectors[name], links.get(name), found or {}, read_at
                )
                result.outcomes.append(outcome)
                if link is not None:
                    links[name] = link  # saved as it is: no need to read it back
            if result.failed:  # a failure may leave our copies ahead of the store: the store decides
                links = {ln.connector: ln for ln in self.store.links_for_ticket(ticket.id)}
            try:
                result.notes_written, result.notes_planned = notes.write_back(
                    self.cogny, self.store, ticket, sorted(links.values(), key=lambda ln: ln.connector),
                    self.connectors, dry_run=self.dry_run)
            except Exception as exc:  # the records exist; the next reconcile retries the notes
                result.error = f"write-back: {redact(str(exc))}"
                metrics.writebacks.labels("failed").inc()
                log.error("write-back failed", error=result.error)
            return result

    # -- one connector ---------------------------------------------------------------------
    def _reconcile_one(self, ticket: Ticket, connector: Connector, link: Link | None,
                       found: Mapping[str, ExternalRef | None],
                       read_at: datetime | None) -> tuple[Outcome, Link | None]:
        with structlog.contextvars.bound_contextvars(connector=connector.name):
            off = self.breaker.off(connector.name) if self.breaker else None
            if off:  # the target refused the credentials or is unreachable: this cycle skips it
                metrics.reconcile_outcomes.labels(connector.name, "failed").inc()
                return Outcome(connector.name, "failed", error=off, reason=SWITCHED_OFF), link
            try:
                outcome, link = self._apply(ticket, connector, link, found, read_at)
            except RecordGone as exc:
                outcome, link = self._gone(ticket.id, connector, exc)
            except Exception as exc:
                message = redact(str(exc)) or type(exc).__name__
                self._note_failure(ticket.id, connector.name, message)
                if self.breaker:
                    self.breaker.observe(connector.name, exc)
                log.error("reconcile failed", error=message, error_type=type(exc).__name__)
                outcome = Outcome(connector.name, "failed", error=message)
            metrics.reconcile_outcomes.labels(connector.name, outcome.action).inc()
            return outcome, link

    def _apply(
        self,
        ticket: Ticket,
        connector: Connector,
        link: Link | None,
        found: Mapping[str, ExternalRef | None],
        read_at: datetime | None,
    ) -> tuple[Outcome, Link | None]:
        if link and link.state == "gone":
            if connector.name not in self.recreate:
                return Outcome(connector.name, "gone", ref_of(link), reason=link.gone_how or "deleted"), link
            if self.dry_run:
                return Outcome(connector.name, "would-recreate", ref_of(link),
                               reason=f"{link.gone_how or 'deleted'}; on_deleted: recreate"), link
            log.info("making a deleted record again (on_deleted: recreate)", deleted=link.external_key)
            link = self.store.restart_link(link)
        desired = connector.render(ticket)
        wanted_hash = desired.hash()
        if link and link.state == "synced" and link.applied_hash == wanted_hash:
            if not self.dry_run:
                assignee_note.remember(self.store, ticket, connector, link, read_at)
            return Outcome(connector.name, "unchanged", ref_of(link)), link
        if link and link.state == "synced" and _older(ticket, link):
            # A poll's listing can be older than the fresh GET a webhook reconcile used: never let
            # stale data revert a newer state (the next reconcile with fresh data converges).
            return Outcome(
                connector.name, "unchanged", ref_of(link), reason="ticket data older than applied"
            ), link
        if self.dry_run:
            return self._plan(ticket, connector, link, desired, found), link
        new_row = False
        if link is None:
            link, new_row = self.store.claim_create(ticket.id, connector.name)
            if link.state == "synced":  # another worker got there first: judge its row as usual
                return self._apply(ticket, connector, link, found, read_at)
        # a look-up made before the lock is trusted only for a row this call inserted
        hint = found[connector.name] if new_row and connector.name in found else NOT_SEARCHED
        trusted = link.state == "synced"
        previous = Desired.from_json(link.applied) if trusted else None
        ref, action = self._ensure_record(ticket, connector, link, desired, previous, trusted, hint, new_row)
        # a record created just now has no children to recover; a trusted one has them in the store
        made = self._ensure_items(
            ticket,
            connector,
            link,
            ref,
            desired,
            previous,
            trusted or action == "created",
            stored={} if new_row else None,
        )
        mark_synced(ticket, link, desired, read_at, wanted_hash)
        self.store.save_link(link, new_items=made)  # one transaction: the link and its new children
        return Outcome(connector.name, action, ref), link

    def _ensure_record(self, ticket: Ticket, connector: Connector, link: Link, desired: Desired,
                       previous: Desired | None, trusted: bool, hint: Any,
                       new_row: bool) -> tuple[ExternalRef, Action]:
        ref = ref_of(link) if link.external_id else None
        if ref is None:
            ref = connector.find(ticket) if hint is NOT_SEARCHED else hint
            if ref is not None:
                log.info("found existing record by marker", external_key=ref.key or ref.id)
        if ref is None:
            # an earlier attempt's create may exist where the search cannot see it yet: wait for it
            search_lag.before_create(self.store, connector, link, new_row=new_row)
            try:
                ref = connector.create(ticket, desired)
            except Exception as exc:
                search_lag.not_sent(self.store, link, exc)
                raise
            link.external_id, link.external_key, link.external_url = ref.id, ref.key, ref.url
            link.create_sent_at = None
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
                      desired: Desired, previous: Desired | None, trusted: bool,
                      stored: dict[str, ItemLink] | None = None) -> list[ItemLink]:
        """Create and update children; the links of children created last, for the caller to record.

        `stored`: the child links the store holds, when known without reading them (none, for a new
        row). Children created before a call that can still fail are recorded at once instead.
        """
        if not desired.items:
            return []
        assert link.id is not None
        known = self.store.items(link.id) if stored is None else dict(stored)
        if not trusted:  # the store may have missed children created before a crash
            for key, item_ref in connector.find_items(ref).items():
                if key not in known:
                    known[key] = ItemLink(key, item_ref.id, item_ref.key, None)
        missing = {k: v for k, v in desired.items.items() if k not in known}
        outdated = [k for k, item in known.items() if k in desired.items
                    and item.applied_hash not in (desired.item_hash(k), ITEM_GONE)]
        made: list[ItemLink] = []
        if missing:
            try:
                made = item_links(desired, connector.create_items(ref, ticket, missing))
            except PartialItems as exc:
                self.store.add_items(link.id, item_links(desired, exc.created, exc.unfinished))
                raise exc.cause from None
            log.info("created child records", count=len(made))
            if outdated:  # updates below may fail: never lose track of children that exist
                self.store.add_items(link.id, made)
                made = []
        for key in outdated:
            item = known[key]
            before = previous.items.get(key) if previous and item.applied_hash else None
            try:
                connector.update_item(
                    ref, ExternalRef(item.external_id, item.external_key), desired.items[key], before
                )
            except RecordGone as exc:  # a person deleted this child alone: leave it deleted
                log.warning("child record deleted in the target; leaving it deleted",
                            external_key=item.external_key or item.external_id, how=exc.how)
                item.applied_hash = ITEM_GONE
                continue
            item.applied_hash = desired.item_hash(key)
            item.completed = bool(desired.items[key].get("completed"))
        if outdated:
            self.store.save_items(link.id, [known[k] for k in outdated])
            log.info("updated child records", count=len(outdated))
        return made

    def _plan(self, ticket: Ticket, connector: Connector, link: Link | None, desired: Desired,
              found: Mapping[str, ExternalRef | None]) -> Outcome:
        if link is None or link.state != "synced":
            if link and link.external_id:
                ref: ExternalRef | None = ref_of(link)
            else:
                ref = (
                    found[connector.name]
                    if link is None and connector.name in found
                    else connector.find(ticket)
                )
            if ref is None:
                return Outcome(connector.name, "would-create",
                               reason=f"new record with {len(desired.items)} child record(s)")
            return Outcome(
                connector.name, "would-adopt", ref, reason="record found by marker; bring it up to date"
            )
        previous = Desired.from_json(link.applied)
        return Outcome(connector.name, "would-update", ref_of(link), reason=_what_changed(previous, desired))

    def _gone(self, ticket_id: str, connector: Connector, exc: RecordGone) -> tuple[Outcome, Link | None]:
        """A person deleted the record: remember when and how, and never call for it again."""
        link = self.store.get_link(ticket_id, connector.name)
        if link is None or self.dry_run:
            return Outcome(connector.name, "gone", reason=exc.how), link
        link.state, link.gone_at, link.gone_how = "gone", utcnow(), exc.how
        link.last_error = None
        self.store.save_link(link)
        metrics.records_gone.labels(connector.name).inc()
        recreate = connector.name in self.recreate
        log.warning(
            "record deleted in the target; "
            + ("a new one is made next run" if recreate else "leaving it so"),
            external_key=link.external_key,
            how=exc.how,
        )
        return Outcome(connector.name, "gone", ref_of(link), reason=exc.how), link

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

ITEM_GONE = "gone"  # a child link's applied_hash once a person deleted the child: never updated again
NOT_SEARCHED: Any = object()  # `_ensure_record`: no marker look-up was made in advance


def _older(ticket: Ticket, link: Link) -> bool:
    applied_at = (link.applied or {}).get("source_updated_at")
    return bool(applied_at and ticket.updated_at and _ts(ticket.updated_at) < _ts(applied_at))


def _ts(stamp: str) -> str:
    """ISO 8601 in UTC compares as text once the zone suffix is uniform."""
    return stamp.replace("+00:00", "Z")


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
