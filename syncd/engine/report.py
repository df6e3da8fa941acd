"""A poll's report: what happened to every ticket, the run row in the store, the summary log line."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import datetime

import structlog

from syncd import metrics
from syncd.engine.breaker import SWITCHED_OFF
from syncd.engine.outcome import APPLIED, TicketResult
from syncd.redact import redact
from syncd.store.database import RunCounts, Store
from syncd.store.schema import LINK_STATES

log = structlog.get_logger("syncd.cycle")


@dataclass
class CycleReport:
    """What a cycle did, summed up as results arrive (`add`): memory stays flat over any number of
    tickets. `results` keeps only the tickets someone reads afterwards: the failed ones, and the
    ones with a plan (a dry run prints one row per planned change)."""

    seen: int = 0
    results: list[TicketResult] = field(default_factory=list)
    listing_error: str | None = None
    cogny_failed: bool = False  # the listing failed because Cogny refused or was unreachable
    interrupted: str | None = None  # Ctrl-C: "interrupted after 72 of 2000 tickets"
    duration: float = 0.0
    run_id: int | None = None
    done: int = 0  # tickets whose result arrived
    notes_written: int = 0
    notes_planned: int = 0
    _table: dict[str, dict[str, int]] = field(default_factory=dict)
    _counts: RunCounts = field(default_factory=RunCounts)

    def add(self, result: TicketResult) -> None:
        """Count one ticket's result; keep it only when it failed or plans a change."""
        self.done += 1
        self.notes_written += result.notes_written
        self.notes_planned += result.notes_planned
        for o in result.outcomes:
            row = self._table.setdefault(o.connector, {})
            row[o.action] = row.get(o.action, 0) + 1
            if o.action in APPLIED:
                setattr(self._counts, o.action, getattr(self._counts, o.action) + 1)
        if result.error and not any(o.action == "failed" for o in result.outcomes):
            self._counts.failed += 1
        if result.failed or any(o.action.startswith("would-") for o in result.outcomes):
            self.results.append(result)

    def per_connector(self) -> dict[str, dict[str, int]]:
        return {name: dict(row) for name, row in self._table.items()}

    def switched_off(self) -> dict[str, tuple[str, int]]:
        """connector -> (why it was switched off, how many tickets it skipped) (syncd.engine.breaker)."""
        out: dict[str, tuple[str, int]] = {}
        for r in self.results:
            for o in r.outcomes:
                if o.reason == SWITCHED_OFF:
                    out[o.connector] = (o.error or "", out.get(o.connector, ("", 0))[1] + 1)
        return out

    def failures(self, *, skipped: bool = True) -> list[tuple[str, str, str]]:
        """(ticket_id, where, reason) for every failure (`skipped`: with the tickets a switched-off
        target skipped, which `switched_off` sums up)."""
        out = []
        for r in self.results:
            out += [(r.ticket_id, o.connector, o.error or "") for o in r.outcomes
                    if o.action == "failed" and (skipped or o.reason != SWITCHED_OFF)]
            if r.error:
                out.append((r.ticket_id, "ticket", r.error))
        return out

    @property
    def ok(self) -> bool:
        return self.listing_error is None and self.interrupted is None and not self.failures()

    def counts(self) -> RunCounts:
        return replace(self._counts, seen=self.seen)


def finish(report: CycleReport, store: Store | None, kind: str, started: datetime, t0: float) -> None:
    """Time the run, count it, record it in the store (None: a dry run records nothing), log it."""
    report.duration = time.monotonic() - t0
    metrics.cycle_duration.observe(report.duration)
    if report.ok:
        metrics.last_success.set_to_current_time()
    if store is not None:
        try:
            counts = report.counts()
            counts.per_connector = report.per_connector()  # the console's runs page shows them
            report.run_id = store.record_run(
                kind, started, counts, report.interrupted or report.listing_error, failures=report.failures()
            )
        except Exception as exc:  # the records are synced; only the run's bookkeeping is lost
            report.listing_error = report.listing_error or f"recording the run failed: {redact(str(exc))}"
            log.error("recording the run failed", error=redact(str(exc)))
        count_links(store)
    log.info("cycle finished", kind=kind, seen=report.seen, duration_seconds=round(report.duration, 3),
             failed=len(report.failures()), notes_written=report.notes_written, **_flat(report))


def count_links(store: Store) -> None:
    """Set the `syncd_links` gauge (links per connector and state) from the store: one grouped query."""
    try:
        counts = store.link_counts()
    except Exception as exc:  # a gauge is not worth failing a run for
        log.warning("counting links failed", error=redact(str(exc)))
        return
    for connector, states in counts.items():
        for state in LINK_STATES:
            metrics.links.labels(connector, state).set(states.get(state, 0))


def _flat(report: CycleReport) -> dict[str, int]:
    return {
        f"{c}_{a}".replace("-", "_"): n for c, row in report.per_connector().items() for a, n in row.items()
    }
