"""One poll cycle, top to bottom: list → plan → create in bulk → reconcile → report.

`syncd run-once` is exactly one cycle; the daemon's scheduler runs the same function.

1. `listing`: every page of the configured listing, fetched a page or two ahead;
2. `plan`: per page, one store query; tickets that need no work are settled on the spot, the
   others get their marker look-ups (one search per connector);
3. `bulk`: the page's new records created together where the connector can;
4. `reconcile`: the rest, concurrently (bounded by `sync.concurrency`) — per-ticket order still
   holds because one ticket is reconciled by one worker at a time — each ending with its notes
   written back (`notes`);
5. `report`: the run recorded and logged.
"""

from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Generator

import structlog

from syncd.config import Config
from syncd.engine import bulk
from syncd.engine.breaker import Breaker
from syncd.engine.listing import iter_pages, read_ahead
from syncd.engine.outcome import CognyAPI, Outcome, TicketResult
from syncd.engine.plan import PagePlanner, Work
from syncd.engine.reconcile import Reconciler
from syncd.engine.report import CycleReport, finish
from syncd.errors import CognyError, NotFound, SyncdError, TicketDataError
from syncd.models import Ticket
from syncd.redact import redact
from syncd.store.database import utcnow

log = structlog.get_logger("syncd.cycle")
Progress = Callable[[int, int | None], None]  # (done, total if known)


def run_cycle(
    config: Config,
    reconciler: Reconciler,
    cogny: CognyAPI,
    *,
    kind: str = "run-once",
    progress: Progress | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> CycleReport:
    """List, plan and reconcile every ticket; record the run unless dry-running."""
    started, t0 = utcnow(), time.monotonic()
    report = CycleReport()
    totals: list[int] = []
    store = reconciler.store
    planner = PagePlanner(config, store, reconciler.connectors)
    planner.breaker = reconciler.breaker = Breaker()  # this cycle's: a target out of reach is skipped
    collector = _Collector(report, progress, totals, config.sync.concurrency * 4)
    with ThreadPoolExecutor(max_workers=config.sync.concurrency, thread_name_prefix="reconcile") as pool:
        pages: Generator[list[Any], None, None] | None = None
        try:
            pages = read_ahead(iter_pages(config, cogny, totals, since=store.last_clean_start(),
                                          linked=lambda ids: set(store.links_for(ids))))
            for raws in pages:
                if not _run_page(planner, raws, pool, reconciler, collector, should_stop):
                    report.listing_error = "stopped before the listing was finished"
                    break
        except SyncdError as exc:
            report.listing_error = redact(str(exc))
            report.cogny_failed = isinstance(exc, CognyError)  # else the store (e.g. locked)
            log.error("listing tickets failed", error=report.listing_error)
        except KeyboardInterrupt:  # Ctrl-C: finish what is in flight, drop the rest, record the run
            collector.cancel()
            report.interrupted = f"interrupted after {report.done + len(collector.pending)} of " \
                                 f"{sum(totals) if totals else '?'} tickets"
            log.warning("run interrupted", detail=report.interrupted)
        finally:
            if pages is not None:
                pages.close()  # stops the listing thread when the loop ended early
            collector.drain()
            reconciler.breaker = None
    finish(report, None if reconciler.dry_run else store, kind, started, t0)
    return report


def _run_page(planner: PagePlanner, raws: list[Any], pool: ThreadPoolExecutor, reconciler: Reconciler,
              collector: _Collector, should_stop: Callable[[], bool]) -> bool:
    """Settle what the page allows, create its new records, hand the rest to the pool; False: told to stop."""
    if should_stop():
        return False
    settled, work = planner.plan(raws)
    if not reconciler.dry_run:  # new records first, a page at a time; the workers write notes back
        breaker = planner.breaker
        live = {n: c for n, c in reconciler.connectors.items() if not (breaker and breaker.off(n))}
        bulk.create_page(reconciler.store, live, reconciler.locks, work)
    collector.report.seen += len(settled)
    for result in settled:
        collector.add(result)
    for item in work:
        if should_stop():
            return False
        collector.report.seen += 1
        collector.submit(pool, reconciler, item)
    return True


class _Collector:
    """Results in, progress out; the pool's pending futures kept bounded."""

    def __init__(self, report: CycleReport, progress: Progress | None, totals: list[int], limit: int) -> None:
        self.report, self.progress, self.totals, self.limit = report, progress, totals, limit
        self.pending: set[Future[TicketResult]] = set()

    def add(self, result: TicketResult) -> None:
        self.report.add(result)
        if self.progress:
            self.progress(self.report.done, sum(self.totals) if self.totals else None)

    def submit(self, pool: ThreadPoolExecutor, reconciler: Reconciler, work: Work) -> None:
        self.pending.add(pool.submit(_reconcile_work, reconciler, work))
        if len(self.pending) >= self.limit:  # bounded memory on big listings
            finished, self.pending = wait(self.pending, return_when=FIRST_COMPLETED)
            self._collect(finished)

    def drain(self) -> None:
        finished, self.pending = wait(self.pending)
        self._collect(finished)

    def cancel(self) -> None:
        """Drop the work no thread has started; what is running still finishes (and is drained)."""
        for fut in self.pending:
            fut.cancel()
        self.pending = {fut for fut in self.pending if not fut.cancelled()}

    def _collect(self, futures: set[Future[TicketResult]]) -> None:
        for fut in futures:
            if not fut.cancelled():
                self.add(fut.result())


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
