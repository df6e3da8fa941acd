"""One poll cycle: list the tickets (every warehouse, every page), route and reconcile each.

`syncd run-once` is exactly one cycle; the daemon's scheduler runs the same function.
The listing thread plans each page (syncd.page_plan): one store query for the page's links,
unchanged tickets settled on the spot (render and hash; no thread, query or call), one marker
search per connector for the new ones, whose records it then creates in bulk where the
connector can (syncd.bulk). The rest is reconciled concurrently (bounded by
`sync.concurrency`): the APIs allow it, and per-ticket order still holds because one ticket is
reconciled by one worker at a time.
"""

from __future__ import annotations

import queue
import threading
import time
from datetime import datetime, timedelta
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable, Generator, Iterator, TypeVar

import structlog

from syncd import metrics
from syncd.engine import bulk
from syncd.config import Config
from syncd.errors import NotFound, SyncdError, TicketDataError
from syncd.models import Ticket
from syncd.engine.plan import PagePlanner, Work
from syncd.engine.reconcile import Outcome, Reconciler, TicketResult
from syncd.redact import redact
from syncd.store.database import RunCounts, utcnow

log = structlog.get_logger("syncd.cycle")
Progress = Callable[[int, int | None], None]  # (done, total if known)
T = TypeVar("T")


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


def iter_pages(config: Config, cogny: Any, totals: list[int] | None = None, *, since: datetime | None = None,
               linked: Callable[[list[str]], set[str]] | None = None) -> Iterator[list[dict[str, Any]]]:
    """Every ticket matching `cogny.filters` in every configured warehouse, each once, a page at a time.

    Then the sweep: tickets updated since `since` in any status that are already linked (`linked`
    answers which of a page's ids are). A ticket that leaves the filters (e.g. becomes completed
    while the filter is `open`) must still carry its new state to the records syncd made for it.
    """
    f = config.cogny.filters
    filters = dict(status=f.status, priority=f.priority, category=f.category,
                   created_after=f.created_after, updated_after=f.updated_after)
    seen: set[Any] = set()
    for warehouse in config.cogny.warehouses or [None]:
        first = True
        for page in cogny.pages(limit=config.cogny.page_size, warehouse_id=warehouse, **filters):
            if first and totals is not None and page.total_count is not None:
                totals.append(page.total_count)
            first = False
            fresh = _unseen(page.items, seen)
            if fresh:
                yield fresh
    sweep = _sweep_filters(config, since) if linked is not None else None
    if sweep is None or linked is None:
        return
    for warehouse in config.cogny.warehouses or [None]:
        for page in cogny.pages(limit=config.cogny.page_size, warehouse_id=warehouse, **sweep):
            ids = [raw["id"] for raw in page.items
                   if isinstance(raw, dict) and isinstance(raw.get("id"), str) and raw["id"] not in seen]
            known = linked(ids) if ids else set()
            fresh = _unseen([raw for raw in page.items if isinstance(raw, dict) and raw.get("id") in known], seen)
            if fresh:
                yield fresh


def read_ahead(pages: Iterator[T], depth: int = 2) -> Generator[T, None, None]:
    """`pages`, fetched by a helper thread up to `depth` pages ahead.

    Cogny takes a while to answer a page; meanwhile the previous one is planned here, so the
    listing's waiting overlaps the CPU work instead of adding to it. Errors arrive in order.
    """
    box: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any, error: BaseException | None = None) -> bool:
        while not stop.is_set():  # ends when there is room or the reader has gone
            try:
                box.put((item, error), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for page in pages:
                if not put(page):
                    return
            put(_END)
        except BaseException as exc:  # handed to the reader, raised there
            put(_END, exc)

    threading.Thread(target=produce, name="listing", daemon=True).start()
    try:
        while True:
            item, error = box.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item
    finally:
        stop.set()


_END = object()


def _unseen(items: list[Any], seen: set[Any]) -> list[Any]:
    out = []
    for raw in items:
        key = raw.get("id") if isinstance(raw, dict) else None
        if key not in seen:
            seen.add(key)
            out.append(raw)
    return out


def _sweep_filters(config: Config, since: datetime | None) -> dict[str, Any] | None:
    """The sweep's listing filters, or None when no ticket can have left the main listing."""
    if since is None:
        return None
    f = config.cogny.filters
    sweep: dict[str, Any] = {"updated_after": (since - SWEEP_MARGIN).strftime("%Y-%m-%dT%H:%M:%SZ")}
    if not (f.priority or f.category or f.created_after or f.updated_after):
        # Only the status can take a ticket out of the listing: sweep just the other statuses.
        outside = [s for s in ALL_STATUSES if f.status and s not in f.status]
        if f.status and not outside:
            return None
        if outside:
            sweep["status"] = outside
    return sweep


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


class _Collector:
    """Results in, progress out; the pool's pending futures kept bounded."""

    def __init__(self, report: CycleReport, progress: Progress | None, totals: list[int], limit: int) -> None:
        self.report, self.progress, self.totals, self.limit = report, progress, totals, limit
        self.pending: set[Future[TicketResult]] = set()

    def add(self, result: TicketResult) -> None:
        self.report.results.append(result)
        if self.progress:
            self.progress(len(self.report.results), sum(self.totals) if self.totals else None)

    def submit(self, pool: ThreadPoolExecutor, reconciler: Reconciler, work: Work) -> None:
        self.pending.add(pool.submit(_reconcile_work, reconciler, work))
        if len(self.pending) >= self.limit:  # bounded memory on big listings
            finished, self.pending = wait(self.pending, return_when=FIRST_COMPLETED)
            self._collect(finished)

    def drain(self) -> None:
        finished, self.pending = wait(self.pending)
        self._collect(finished)

    def _collect(self, futures: set[Future[TicketResult]]) -> None:
        for fut in futures:
            self.add(fut.result())


def run_cycle(config: Config, reconciler: Reconciler, cogny: Any, *, kind: str = "run-once",
              progress: Progress | None = None, should_stop: Callable[[], bool] = lambda: False) -> CycleReport:
    """List, route and reconcile every ticket; record the run unless dry-running."""
    started, t0 = utcnow(), time.monotonic()
    report = CycleReport()
    totals: list[int] = []
    planner = PagePlanner(config, reconciler)
    collector = _Collector(report, progress, totals, config.sync.concurrency * 4)
    with ThreadPoolExecutor(max_workers=config.sync.concurrency, thread_name_prefix="reconcile") as pool:
        pages: Generator[list[Any], None, None] | None = None
        try:
            store = reconciler.store
            pages = read_ahead(iter_pages(config, cogny, totals, since=store.last_clean_start(),
                                          linked=lambda ids: set(store.links_for(ids))))
            for raws in pages:
                if not _run_page(planner, raws, pool, reconciler, collector, should_stop):
                    report.listing_error = "stopped before the listing was finished"
                    break
        except SyncdError as exc:
            report.listing_error = redact(str(exc))
            log.error("listing tickets failed", error=report.listing_error)
        finally:
            if pages is not None:
                pages.close()  # stops the listing thread when the loop ended early
            collector.drain()
    _finish(report, reconciler, kind, started, t0)
    return report


def _run_page(planner: PagePlanner, raws: list[Any], pool: ThreadPoolExecutor, reconciler: Reconciler,
              collector: _Collector, should_stop: Callable[[], bool]) -> bool:
    """Settle what the page allows, hand the rest to the pool; False when told to stop."""
    if should_stop():
        return False
    settled, work = planner.plan(raws)
    bulk.create_page(reconciler, work)  # new records first, a page at a time; workers write notes back
    collector.report.seen += len(settled)
    for result in settled:
        collector.add(result)
    for item in work:
        if should_stop():
            return False
        collector.report.seen += 1
        collector.submit(pool, reconciler, item)
    return True


def _finish(report: CycleReport, reconciler: Reconciler, kind: str, started: datetime, t0: float) -> None:
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


def _reconcile_work(reconciler: Reconciler, work: Work) -> TicketResult:
    """Reconcile one ticket the listing could not settle; a failure fails this ticket alone."""
    ticket = work.ticket
    try:
        if work.read_first:
            ticket = Ticket.parse(reconciler.cogny.get_ticket(ticket.id))
        return reconciler.reconcile(ticket, work.targets, found=work.found,
                                    assignee_from_note=work.assignee_from_note, done=work.done)
    except NotFound:  # deleted since the listing: nothing to mirror any more
        log.info("ticket gone since the listing", ticket_id=ticket.id)
        return TicketResult(ticket.id)
    except TicketDataError as exc:
        log.error("bad ticket data", ticket_id=ticket.id, error=str(exc))
        return TicketResult(ticket.id, error=str(exc))
    except Exception as exc:  # e.g. the store went away mid-ticket: report, keep the cycle going
        message = redact(str(exc))
        log.error("reconcile crashed", ticket_id=ticket.id, error=message, error_type=type(exc).__name__)
        return TicketResult(ticket.id, [Outcome(n, "failed", error=message) for n in work.targets])


def _flat(report: CycleReport) -> dict[str, int]:
    return {f"{c}_{a}".replace("-", "_"): n for c, row in report.per_connector().items() for a, n in row.items()}
