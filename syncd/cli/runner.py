"""`syncd run-once`: one cycle with a progress bar on a terminal and a summary table at the end."""

from __future__ import annotations

from typing import Any, Callable

from rich.console import Console
from rich.table import Table
from rich.text import Text

from syncd.cli.common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_LISTING, EXIT_OK, err
from syncd.config import Config
from syncd.engine.app import App
from syncd.engine.cycle import run_cycle
from syncd.engine.outcome import Outcome
from syncd.engine.reconcile import Reconciler
from syncd.engine.report import CycleReport
from syncd.redact import redact
from syncd.terminal import cells, printable

ACTIONS = ("created", "updated", "unchanged", "failed")
PLAN_ACTIONS = ("would-create", "would-adopt", "would-update", "unchanged", "failed")
ProgressBar = Callable[[int, int | None], None]  # (tickets done, total if known)


def run_once(config: Config, *, dry_run: bool, console: Console) -> int:
    """Run one cycle; print the plan or the summary. The exit code: 0 every ticket succeeded, 1 some
    failed, 3 the listing failed, 130 interrupted (Ctrl-C)."""
    from syncd.store.lockfile import lock_sqlite

    lock = None if dry_run else lock_sqlite(config.store.url)  # never alongside a daemon on one SQLite file
    try:
        return _run(config, dry_run=dry_run, console=console)
    except KeyboardInterrupt:  # before the cycle started (or during sync-back): nothing half-done to report
        err.print("syncd: interrupted before the sync started; nothing was changed by this run", markup=False)
        return EXIT_INTERRUPTED
    finally:
        if lock is not None:
            lock.close()


def _run(config: Config, *, dry_run: bool, console: Console) -> int:
    with App.build(config, migrate=not dry_run) as app:
        reconciler = app.reconciler(dry_run=dry_run)
        back = _sync_back(app, config, dry_run, console, reconciler)
        report = _with_progress(console, lambda progress: run_cycle(
            config, reconciler, app.cogny, kind="run-once", progress=progress))
    if report.cogny_failed and not report.done:  # nothing listed: a summary of zeros says nothing
        error = redact(report.listing_error or "")
        line = f"syncd: listing tickets failed, nothing was synced: {error} ({_listing_hint(error)})"
        err.print(printable(line), markup=False)
        return EXIT_LISTING
    # The summary first: over thousands of tickets the plan is long, and what it adds up to comes first.
    print_summary(report, console, PLAN_ACTIONS if dry_run else ACTIONS)
    if dry_run:
        print_plan(report, console)
    if report.interrupted:
        err.print(f"syncd: {report.interrupted}; run again to resume (finished tickets are not redone)",
                  markup=False)
        return EXIT_INTERRUPTED
    if report.cogny_failed:
        return EXIT_LISTING
    return EXIT_OK if report.ok and back else EXIT_FAILED


def _listing_hint(error: str) -> str:
    if "HTTP 401" in error or "HTTP 403" in error:
        return "check cogny.api_key; syncd check-config --connect proves it"
    return "check cogny.base_url and the network; syncd check-config --connect proves it"


def _sync_back(app: App, config: Config, dry_run: bool, console: Console, reconciler: Reconciler) -> bool:
    """Carry progress from the targets into Cogny first, so the cycle then spreads it everywhere."""
    from syncd.config import sync_back_connectors

    if not sync_back_connectors(config):
        return True
    if dry_run:
        console.print("sync-back: skipped in a dry run (it would read the linked records and write to Cogny)")
        return True
    from syncd.engine.syncback import run_pass

    ok = True
    for r in run_pass(app.syncback(locks=reconciler.locks)):
        written = sum(1 for a in r.applied if a.wrote)
        console.print(f"sync-back {r.connector}: {r.read} record(s) read, {r.changed} changed, "
                      f"{written} ticket(s) updated in Cogny", markup=False)
        for ticket_id, reason in r.failed:
            console.print(printable(f"  {ticket_id} ← {r.connector}: {redact(reason)}"), markup=False)
        if r.error:
            console.print(printable(f"  reading {r.connector} failed: {redact(r.error)}"), markup=False)
        ok = ok and not r.failed and r.error is None
    return ok


def _with_progress(console: Console, body: Callable[[ProgressBar | None], CycleReport]) -> CycleReport:
    """Run `body` with a progress callback drawing a bar on a terminal (None elsewhere)."""
    if not console.is_terminal:
        return body(None)
    from rich.progress import (  # a terminal only
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    # log lines print above the bar (rich redirects stderr while it draws; syncd.log writes there)
    with Progress(TextColumn("syncing tickets"), BarColumn(), MofNCompleteColumn(), _rate_column(),
                  TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                  console=console, transient=True, redirect_stderr=True) as bar:
        task = bar.add_task("sync", total=None)

        def progress(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        return body(progress)


def _rate_column() -> Any:
    """A progress column: tickets per second over the last moments (blank until known)."""
    from rich.progress import ProgressColumn, Task

    class Rate(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.1f} tickets/s" if speed else "", style="progress.data.speed")

    return Rate()


def print_summary(report: CycleReport, console: Console, actions: tuple[str, ...] = ACTIONS) -> None:
    rows = report.per_connector()
    # records people deleted get a column only when there are some (`gone`, `would-recreate`)
    actions += tuple(
        a for a in ("would-recreate", "gone") if a not in actions and any(a in r for r in rows.values())
    )
    table = Table(title=f"{report.seen} ticket(s) in {report.duration:.1f}s", *(["connector", *actions]))
    for connector, row in sorted(rows.items()):
        table.add_row(*cells(connector, *(row.get(a, 0) for a in actions)))
    console.print(table)
    if report.notes_written:
        console.print(f"notes written back on {report.notes_written} ticket(s)")
    planned = report.notes_planned
    if planned:
        console.print(f"would write notes on {planned} ticket(s)")
    if report.listing_error:
        console.print(Text("listing tickets failed: ", style="red")
                      + Text(printable(redact(report.listing_error))))
    failures = report.failures(skipped=False)
    if failures:
        console.print(f"[red]{len(failures)} failure(s):[/red]")
        for ticket_id, where, reason in failures:
            reason = reason.removeprefix(f"{where}: ")  # "→ jira: HTTP 401", not "→ jira: jira: HTTP 401"
            console.print(printable(f"  {ticket_id} → {where}: {redact(reason)}"), markup=False)
    for connector, (cause, waiting) in sorted(report.switched_off().items()):
        console.print(
            printable(
                f"{connector}: switched off for the rest of this run ({cause}); {waiting} more "
                f"ticket(s) wait for the next run — check it with: syncd check-config --connect"
            ),
            markup=False,
        )


def print_plan(report: CycleReport, console: Console) -> None:
    """The dry-run plan: what would change where, and why."""
    rows: list[tuple[str, Outcome]] = [(r.ticket_id, o) for r in report.results for o in r.outcomes
                                       if o.action.startswith("would-")]
    if not rows:
        console.print("plan: nothing to do — every record is up to date")
        return
    table = Table("ticket", "connector", "action", "record", "why",
                  title="plan (dry run: nothing was written)")
    for ticket_id, o in rows:
        table.add_row(*cells(ticket_id, o.connector, o.action.removeprefix("would-"),
                             (o.ref.key or o.ref.id) if o.ref else "", redact(o.reason or "")))
    console.print(table)
