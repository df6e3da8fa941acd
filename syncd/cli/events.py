"""`syncd events`: the webhook inbox seen from the command line — list events, retry dead ones, purge
finished ones. A running daemon's workers pick up what `retry` queues again."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.table import Table

from syncd.cli.common import EXIT_CONFIG, ConfigOpt, fail, load_config, out
from syncd.errors import SyncdError
from syncd.redact import redact
from syncd.terminal import cells

if TYPE_CHECKING:  # loaded by the commands that use it: `syncd --help` stays quick
    from syncd.store.inbox import Inbox

events_app = typer.Typer(help="Inspect and retry webhook events in the inbox.", no_args_is_help=True)


@events_app.command("list")
def events_list(config: Optional[Path] = ConfigOpt,
                state: Optional[str] = typer.Option(None, "--state",
                                                    help="pending, running, done, dead or ignored."),
                limit: int = typer.Option(50, "--limit", min=1)) -> None:
    """List inbox events, newest first."""
    inbox = _inbox(config)
    table = Table("id", "event", "type", "ticket", "state", "attempts", "received", "last error")
    for e in inbox.list(state, limit):
        table.add_row(*cells(e.id, e.event_id, e.type, e.ticket_id, e.state, e.attempts,
                             str(e.received_at)[:19], redact(e.last_error or "")[:60]))
    out.print(table)


@events_app.command("retry")
def events_retry(config: Optional[Path] = ConfigOpt,
                 ids: list[int] = typer.Argument(None, help="Inbox ids (the `id` column of `events list`)."),
                 all_dead: bool = typer.Option(False, "--all-dead", help="Retry every dead event.")) -> None:
    """Put dead events back in the queue (a running daemon picks them up)."""
    if not ids and not all_dead:
        fail("name event ids or pass --all-dead", EXIT_CONFIG)
    count = _inbox(config).retry(ids or None, all_dead=all_dead)
    out.print(f"{count} event(s) queued again")


@events_app.command("purge")
def events_purge(config: Optional[Path] = ConfigOpt,
                 older_than: str = typer.Option("30d", "--older-than",
                                                help="Age like 30d, 12h or 90m.")) -> None:
    """Delete finished (done, ignored, dead) events older than the given age."""
    import re
    from datetime import timedelta

    m = re.fullmatch(r"(\d+)([dhm])", older_than.strip())
    if not m:
        fail(f"--older-than: expected a number and d, h or m (e.g. 30d), got {older_than!r}", EXIT_CONFIG)
    unit = {"d": "days", "h": "hours", "m": "minutes"}[m.group(2)]
    count = _inbox(config).purge(timedelta(**{unit: int(m.group(1))}))
    out.print(f"{count} event(s) purged")


def _inbox(config: Optional[Path]) -> Inbox:
    """The inbox of the configured store (exit 1 when the store cannot be opened)."""
    from syncd.store.database import Store
    from syncd.store.inbox import Inbox

    cfg = load_config(config)
    try:
        store = Store.open(cfg.store.url)
    except SyncdError as exc:
        fail(str(exc))
    return Inbox(store.engine, max_attempts=cfg.inbox.max_attempts)
