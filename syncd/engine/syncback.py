"""Sync-back: progress made in JIRA, Linear and Asana flows back into the Cogny ticket.

Two ways a change is noticed, one way it is applied:

- `SyncBack.poll(connector)` reads every linked record of a connector in batches
  (`read_states`) and hands each one that changed since the last read to `on_change` — the
  daemon turns it into an inbox event, `run-once` applies it at once.
- A target's webhook (syncd.daemon.inbound) is only a hint naming records: the worker calls
  `SyncBack.refresh`, which reads them fresh from the target. The payload is never trusted.

`apply` runs under the ticket's lock (the same lock reconcile takes): read the ticket fresh,
decide (syncd.engine.progress), write to Cogny, then *absorb* — record in the source link that the
target already holds the new state, so the forward reconcile that follows does not write it
back to where it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Mapping

import structlog

from syncd import metrics
from syncd.engine.outcome import CognyAPI
from syncd.engine.progress import Plan, decide, is_news
from syncd.models import Ticket
from syncd.redact import redact
from syncd.sdk.connector import Desired, ExternalRef, digest
from syncd.sdk.syncback import Category, RemoteState
from syncd.store.database import Store
from syncd.store.locks import TicketLocks
from syncd.store.observed import LinkedRecord, Observed, ObservedStore, iso

log = structlog.get_logger("syncd.syncback")
OnChange = Callable[[LinkedRecord, RemoteState], None]


@dataclass
class Applied:
    """The outcome of one apply: what was written to Cogny (nothing when the plan was empty)."""

    ticket_id: str
    connector: str
    plan: Plan
    ticket: Ticket | None = None  # the ticket after the write (for the forward reconcile)

    @property
    def wrote(self) -> bool:
        return not self.plan.empty


@dataclass
class PollReport:
    connector: str
    read: int = 0
    changed: int = 0
    applied: list[Applied] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (ticket id, reason)
    error: str | None = None


class SyncBack:
    def __init__(self, *, store: Store, cogny: CognyAPI, connectors: Mapping[str, Any], locks: TicketLocks,
                 status_map: Mapping[Category, str], dismiss_reason: str = "not_applicable"):
        self.store = store
        self.observed = ObservedStore(store.engine)
        self.cogny = cogny
        self.connectors = connectors
        self.locks = locks
        self.status_map = dict(status_map)
        self.dismiss_reason = dismiss_reason

    # -- noticing ---------------------------------------------------------------------------
    def poll(self, name: str, since: datetime | None = None, on_change: OnChange | None = None,
             batch: int = 100) -> PollReport:
        """Read every linked record of connector `name`; changed ones go to `on_change` (default: apply)."""
        report = PollReport(name)
        connector = self.connectors[name]
        handle = on_change or (lambda record, state: self._apply_reporting(record, state, report))
        try:
            for records in self.observed.linked(name, batch):
                states = connector.read_states([_ref(r) for r in records], since)
                report.read += len(states)
                metrics.syncback_reads.labels(name, "poll").inc(len(states))
                for record in records:
                    state = states.get(record.external_id)
                    if state is None or not is_news(record.observed, state):
                        continue
                    report.changed += 1
                    if record.observed is None and _untouched(state):
                        self.observed.save(record.link_id, _observation(state, None))  # a baseline, no news
                        continue
                    handle(record, state)
        except Exception as exc:  # the next poll tries again; nothing was half-written
            report.error = redact(str(exc)) or type(exc).__name__
            log.error("sync-back poll failed", connector=name, error=report.error)
        else:
            metrics.syncback_last_poll.labels(name).set_to_current_time()
        return report

    def refresh(self, ticket_id: str, name: str) -> Applied | None:
        """Read one ticket's record in connector `name` fresh and apply what changed (webhook path)."""
        record = self.observed.record(name, ticket_id)
        if record is None:
            return None  # not (or no longer) linked
        state = self.connectors[name].read_states([_ref(record)], None).get(record.external_id)
        metrics.syncback_reads.labels(name, "webhook").inc()
        if state is None:
            return None
        return self.apply(record, state)

    # -- applying ---------------------------------------------------------------------------
    def apply(self, record: LinkedRecord, state: RemoteState) -> Applied:
        """Carry `state` into the ticket, under the ticket's lock."""
        name = record.connector
        with self.locks.hold(record.ticket_id), structlog.contextvars.bound_contextvars(
                ticket_id=record.ticket_id, connector=name):
            fresh = self.observed.record(name, record.ticket_id) or record  # the lock holder may have read it
            ticket = Ticket.parse(self.cogny.get_ticket(record.ticket_id))
            if not is_news(fresh.observed, state):
                return Applied(ticket.id, name, Plan(why=["already seen"]), ticket)
            plan = decide(
                ticket, fresh.observed, state, self.observed.item_keys(record.link_id), self.status_map
            )
            after = self._write(ticket, plan, name) if not plan.empty else ticket
            if plan.conflict:
                metrics.syncback_changes.labels(name, "conflict_target_wins" if not plan.empty
                                                else "conflict_cogny_wins").inc()
                log.warning("sync-back conflict", resolution=plan.conflict)
            if after is not ticket:
                self._absorb(name, ticket, _shown(ticket, after, plan), set(plan.items))
            self.observed.save(record.link_id, _observation(state, after))
            return Applied(ticket.id, name, plan, after)

    def _apply_reporting(self, record: LinkedRecord, state: RemoteState, report: PollReport) -> None:
        try:
            report.applied.append(self.apply(record, state))
        except Exception as exc:  # one ticket's failure must not stop the poll
            reason = redact(str(exc)) or type(exc).__name__
            report.failed.append((record.ticket_id, reason))
            log.error(
                "sync-back failed", ticket_id=record.ticket_id, connector=report.connector, error=reason
            )

    def _write(self, ticket: Ticket, plan: Plan, name: str) -> Ticket:
        """PATCH items and status (or dismiss); returns the ticket as Cogny now holds it."""
        update: dict[str, Any] = {}
        items = [
            {"title": i.title, "completed": plan.items.get(i.title, i.completed)} for i in ticket.action_items
        ]
        if plan.items:
            update["action_items"] = items  # the whole list, as Cogny's "Track completion" example sends it
        if plan.status:
            update["status"] = plan.status
        stamp = ticket.updated_at
        if update:
            stamp = self.cogny.update_ticket(ticket.id, **update).get("updated_at", stamp)
            for title, done in plan.items.items():
                metrics.syncback_changes.labels(name, "item").inc()
                log.info("action item carried back", item=title, completed=done)
            if plan.status:
                metrics.syncback_changes.labels(name, "status").inc()
                log.info(
                    "status carried back", status=f"{ticket.status} → {plan.status}", why="; ".join(plan.why)
                )
        status = plan.status or ticket.status
        if plan.dismiss:
            data = self.cogny.dismiss(ticket.id, self.dismiss_reason)
            stamp, status = data.get("dismissed_at", stamp), "dismissed"
            metrics.syncback_changes.labels(name, "dismiss").inc()
            log.info("ticket dismissed from the target", reason=self.dismiss_reason, why="; ".join(plan.why))
        new_items = [
            i.model_copy(update={"completed": it["completed"]}) for i, it in zip(ticket.action_items, items)
        ]
        return ticket.model_copy(update={"status": status, "action_items": new_items, "updated_at": stamp})

    def _absorb(self, name: str, before: Ticket, shown: Ticket, children: set[str]) -> None:
        """Record that `name`'s record already shows the progress in `shown`, and its child records
        that of the action items in `children` (the ones whose change came from a child).

        Only the connector's progress keys (`progress_keys`, e.g. JIRA's status and a sub-task's
        `completed`) that moved between `before` and `shown` are replaced in what was applied; any
        other change (a description listing the status, sub-tasks closed because the ticket
        completed, a new title) still reaches the target on the next reconcile.
        """
        link = self.store.get_link(shown.id, name)
        applied = Desired.from_json(link.applied) if link else None
        if link is None or applied is None:
            return
        connector = self.connectors[name]
        record_keys, item_keys = getattr(connector, "progress_keys", (("status",), ("completed",)))
        old, new = connector.render(before), connector.render(shown)
        record = _moved(applied.record, old.record, new.record, record_keys)
        items = {k: _moved(v, old.items.get(k, {}), new.items.get(k, {}), item_keys)
                 if k in children and k in new.items else v for k, v in applied.items.items()}
        merged = Desired(record, items)
        # keep what else the link records beside the rendering (e.g. the assignee it last read)
        link.applied = {**(link.applied or {}), **merged.to_json(), "source_updated_at": shown.updated_at}
        link.applied_hash = merged.hash()
        self.store.save_link(link)
        assert link.id is not None
        known = self.store.items(link.id)
        moved = [k for k in known if k in items and items[k] != applied.items.get(k)]
        for key in moved:
            known[key].applied_hash = digest(items[key])
            known[key].completed = bool(items[key].get("completed"))
        if moved:
            self.store.save_items(link.id, [known[k] for k in moved])


def _moved(applied: Mapping[str, Any], old: Mapping[str, Any], new: Mapping[str, Any],
           keys: tuple[str, ...]) -> dict[str, Any]:
    out = dict(applied)
    for key in keys:
        if old.get(key) != new.get(key):
            if key in new:
                out[key] = new[key]
            else:
                out.pop(key, None)
    return out


def _shown(before: Ticket, after: Ticket, plan: Plan) -> Ticket:
    """The ticket as the target already shows it: the items its children carried, and the
    status only when the parent record itself showed it (not one derived from the items)."""
    return after if plan.from_parent else after.model_copy(update={"status": before.status})


def _untouched(state: RemoteState) -> bool:
    """Nothing has happened to the record yet: no reason to even read the ticket."""
    return state.category == "todo" and all(c == "todo" for c in state.items.values())


def _observation(state: RemoteState, ticket: Ticket | None) -> Observed:
    return Observed(category=state.category, items=dict(state.items), updated_at=iso(state.updated_at),
                    cogny_status=ticket.status if ticket else None,
                    cogny_items={i.title: i.completed for i in ticket.action_items} if ticket else {})


def _ref(record: LinkedRecord) -> ExternalRef:
    return ExternalRef(record.external_id, record.external_key, record.external_url)


def run_pass(engine: SyncBack) -> list[PollReport]:
    """`run-once`'s sync-back: poll every sync-back connector and apply what changed, now."""
    since = engine.store.last_clean_start()
    reports = []
    for name in engine.connectors:
        report = engine.poll(name, since)
        written = sum(1 for a in report.applied if a.wrote)
        log.info("sync-back pass", connector=name, read=report.read, changed=report.changed, written=written,
                 failed=len(report.failed), error=report.error)
        reports.append(report)
    return reports
