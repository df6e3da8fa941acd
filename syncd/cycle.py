"""One poll cycle: list the tickets (every warehouse, every page), route and reconcile each.

`syncd run-once` is exactly one cycle; the daemon's scheduler runs the same function.
Tickets are reconciled concurrently (bounded by `sync.concurrency`): the APIs allow it, and
per-ticket order still holds because one ticket is reconciled by one worker at a time.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import structlog

from syncd import metrics, routing
from syncd.config import Config
from syncd.errors import SyncdError, TicketDataError
from syncd.models import Ticket
from syncd.reconcile import Outcome, Reconciler, TicketResult
from syncd.redact import redact
from syncd.store import RunCounts, utcnow

log = structlog.get_logger("syncd.cycle")
Progress = Callable[[int, int | None], None]  # (done, total if known)


@dataclass
class CycleReport:
    seen: int = 0
    results: list[TicketResult] = field(default_factory=list)
    listing_error: str | None = None
    duration: float = 0.0
    run_id: int | None = None

    def per_connector(self) -> dict[str, dict[str, int]]:
        table: dict[str, dict[str, int]] = {}
        for result in self.results:
            for o in result.outcomes:
                row = table.setdefault(o.connector, {})
                row[o.action] = row.get(o.action, 0) + 1
        return table

    def failures(self) -> list[tuple[str, str, str]]:
        """(ticket_id, where, reason) for every failure."""
        out = []
        for r in self.results:
            out += [(r.ticket_id, o.connector, o.error or "") for o in r.outcomes if o.action == "failed"]
            if r.error:
                out.append((r.ticket_id, "ticket", r.error))
        return out

    @property
    def ok(self) -> bool:
        return self.listing_error is None and not self.failures()

    def counts(self) -> RunCounts:
        c = RunCounts(seen=self.seen)
        for result in self.results:
            for o in result.outcomes:
                if o.action in ("created", "updated", "unchanged", "failed"):
                    setattr(c, o.action, getattr(c, o.action) + 1)
            if result.error and not any(o.action == "failed" for o in result.outcomes):
                c.failed += 1
        return c

    @property
    def notes_written(self) -> int:
        return sum(1 for r in self.results if r.notes_written)


SWEEP_MARGIN = timedelta(minutes=5)  # clock skew between Cogny and us
ALL_STATUSES = ("open", "in_progress", "completed", "dismissed")


def iter_tickets(config: Config, cogny: Any, totals: list[int] | None = None, *,
                 since: datetime | None = None, linked: Callable[[str], bool] | None = None
                 ) -> Iterator[dict[str, Any]]:
    """Every ticket matching `cogny.filters` in every configured warehouse, each once.

    Then the sweep: tickets updated since `since` in any status that are already linked. A
    ticket that leaves the filters (e.g. becomes completed while the filter is `open`) must
    still carry its new state to the records syncd made for it.
    """
    f = config.cogny.filters
    filters = dict(status=f.status, priority=f.priority, category=f.category,
                   created_after=f.created_after, updated_after=f.updated_after)
    seen: set[str] = set()
    for warehouse in config.cogny.warehouses or [None]:
        first = True
        for page in cogny.pages(limit=config.cogny.page_size, warehouse_id=warehouse, **filters):
            if first and totals is not None and page.total_count is not None:
                totals.append(page.total_count)
            first = False
            for raw in page.items:
                key = raw.get("id") if isinstance(raw, dict) else None
                if key in seen:
                    continue
                seen.add(key)
                yield raw
    if since is None or linked is None:
        return
    sweep: dict[str, Any] = {"updated_after": (since - SWEEP_MARGIN).strftime("%Y-%m-%dT%H:%M:%SZ")}
    if not (f.priority or f.category or f.created_after or f.updated_after):
        # Only the status can take a ticket out of the listing: sweep just the other statuses.
        outside = [s for s in ALL_STATUSES if f.status and s not in f.status]
        if f.status and not outside:
            return
        if outside:
            sweep["status"] = outside
    for warehouse in config.cogny.warehouses or [None]:
        for raw in cogny.list_tickets(limit=config.cogny.page_size, warehouse_id=warehouse, **sweep):
            key = raw.get("id") if isinstance(raw, dict) else None
            if key not in seen and isinstance(key, str) and linked(key):
                seen.add(key)
                yield raw


def filters_match(ticket: Ticket, cogny: Any) -> bool:
    """Whether a ticket falls inside `cogny.warehouses` and `cogny.filters` (for webhook events)."""
    f = cogny.filters
    if cogny.warehouses and ticket.warehouse_id not in cogny.warehouses:
        return False
    for key in ("status", "priority", "category"):
        allowed = getattr(f, key)
        if allowed and getattr(ticket, key) not in allowed:
            return False
    if f.created_after and (ticket.created_at or "") < f.created_after:
        return False
    return not (f.updated_after and (ticket.updated_at or "") < f.updated_after)


def run_cycle(config: Config, reconciler: Reconciler, cogny: Any, *, kind: str = "run-once",
              progress: Progress | None = None, should_stop: Callable[[], bool] = lambda: False) -> CycleReport:
    """List, route and reconcile every ticket; record the run unless dry-running."""
    started, t0 = utcnow(), time.monotonic()
    report = CycleReport()
    totals: list[int] = []
    names = list(reconciler.connectors)
    done = 0
    with ThreadPoolExecutor(max_workers=config.sync.concurrency, thread_name_prefix="reconcile") as pool:
        pending: set[Future[TicketResult]] = set()

        def collect(futures: set[Future[TicketResult]]) -> None:
            nonlocal done
            for fut in futures:
                report.results.append(fut.result())
                done += 1
                if progress:
                    progress(done, sum(totals) if totals else None)

        try:
            store = reconciler.store
            since = store.last_clean_start()
            for raw in iter_tickets(config, cogny, totals, since=since,
                                    linked=lambda tid: bool(store.links_for_ticket(tid))):
                if should_stop():
                    report.listing_error = "stopped before the listing was finished"
                    break
                report.seen += 1
                pending.add(pool.submit(_reconcile_raw, reconciler, raw, config, names))
                if len(pending) >= config.sync.concurrency * 4:  # bounded memory on big listings
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    collect(finished)
        except SyncdError as exc:
            report.listing_error = redact(str(exc))
            log.error("listing tickets failed", error=report.listing_error)
        finally:
            finished, _ = wait(pending)
            collect(finished)
    report.duration = time.monotonic() - t0
    metrics.cycle_duration.observe(report.duration)
    if report.ok:
        metrics.last_success.set_to_current_time()
    if not reconciler.dry_run:
        try:
            report.run_id = reconciler.store.record_run(kind, started, report.counts(), report.listing_error)
        except Exception as exc:  # the records are synced; only the run's bookkeeping is lost
            report.listing_error = report.listing_error or f"recording the run failed: {redact(str(exc))}"
            log.error("recording the run failed", error=redact(str(exc)))
    log.info("cycle finished", kind=kind, seen=report.seen, duration_seconds=round(report.duration, 3),
             failed=len(report.failures()), notes_written=report.notes_written, **_flat(report))
    return report


def _reconcile_raw(reconciler: Reconciler, raw: Any, config: Config, names: list[str]) -> TicketResult:
    """Parse, route and reconcile one listed ticket; bad data fails this ticket alone."""
    try:
        ticket = Ticket.parse(raw)
    except TicketDataError as exc:
        ident = raw.get("id", "?") if isinstance(raw, dict) else "?"
        log.error("bad ticket data", ticket_id=ident, error=str(exc))
        return TicketResult(str(ident), error=str(exc))
    targets = routing.route(ticket, config.routes, names)
    if not targets:
        return TicketResult(ticket.id)
    try:
        return reconciler.reconcile(ticket, targets)
    except Exception as exc:  # e.g. the store went away mid-ticket: report, keep the cycle going
        message = redact(str(exc))
        log.error("reconcile crashed", ticket_id=ticket.id, error=message, error_type=type(exc).__name__)
        return TicketResult(ticket.id, [Outcome(n, "failed", error=message) for n in targets])


def _flat(report: CycleReport) -> dict[str, int]:
    return {f"{c}_{a}".replace("-", "_"): n for c, row in report.per_connector().items() for a, n in row.items()}
