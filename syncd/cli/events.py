"""`syncd events`: the webhook inbox seen from the command line — list events, retry dead ones, purge
finished ones. A running daemon's workers pick up what `retry` queues again."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from syncd.cli.common import EXIT_CONFIG, ConfigOpt, Output, OutputOpt, fail, load_config, open_store, out
from syncd.redact import redact

if TYPE_CHECKING:  # loaded by the commands that use it: `syncd --help` stays quick
    from syncd.store.inbox import Inbox

events_app = typer.Typer(help="Inspect and retry webhook events in the inbox.", no_args_is_help=True)


@events_app.command("list")
def events_list(config: Optional[Path] = ConfigOpt,
                state: Optional[str] = typer.Option(None, "--state", metavar="STATE",
                                                    help="pending, running, done, dead or ignored."),
                limit: int = typer.Option(50, "--limit", min=1, metavar="N", help="Show at most N events."),
                every: bool = typer.Option(False, "--all", help="Show every event (no --limit)."),
                output: Output = OutputOpt) -> None:
    """List inbox events, newest first (a summary first)."""
    from syncd.cli import listing
    from syncd.store.schema import EVENT_STATES, events

    listing.check_choice("--state", state, EVENT_STATES, "state")
    inbox = _inbox(config)
    counts = listing.count_by(inbox.engine, events, "state",
                              [events.c.state == state] if state is not None else [])
    found = inbox.list(state, sum(counts.values()) if every else limit)
    listing.show(noun="event", counts=counts, output=output,
                 # when it arrived is in --output json; in 80 columns the event id and the error wrap
                 columns=("id", "event", "ticket", "state", "tries", "type", "last error"),
                 whole=("id", "ticket", "state", "tries", "type"), share={"event": 3, "last error": 2},
                 rows=[[e.id, e.event_id, e.ticket_id, e.state, e.attempts, e.type,
                        redact(e.last_error or "")[:80]] for e in found],
                 document={"events": [{"id": e.id, "event_id": e.event_id, "source": e.source, "type": e.type,
                                       "ticket_id": e.ticket_id, "state": e.state, "attempts": e.attempts,
                                       "received_at": e.received_at, "next_attempt_at": e.next_attempt_at,
                                       "last_error": redact(e.last_error) if e.last_error else None}
                                      for e in found]})


@events_app.command("retry")
def events_retry(config: Optional[Path] = ConfigOpt,
                 ids: list[int] = typer.Argument(None, metavar="ID",
                                                 help="Inbox ids (the `id` column of `events list`)."),
                 all_dead: bool = typer.Option(False, "--all-dead", help="Retry every dead event.")) -> None:
    """Put dead events back in the queue (a running daemon picks them up). An unknown id exits 2."""
    import sqlalchemy as sa

    from syncd.store.schema import events

    if not ids and not all_dead:
        fail("name event ids or pass --all-dead", EXIT_CONFIG)
    inbox = _inbox(config)
    if ids:
        with inbox.engine.connect() as conn:
            known = set(conn.execute(sa.select(events.c.id).where(events.c.id.in_(ids))).scalars())
        unknown = [i for i in ids if i not in known]
        if unknown:
            fail(f"no event with id {', '.join(map(str, unknown))} in the inbox "
                 "(the `id` column of `syncd events list`)", EXIT_CONFIG)
    count = inbox.retry(ids or None, all_dead=all_dead)
    out.print(f"{count} event(s) queued again")


@events_app.command("purge")
def events_purge(config: Optional[Path] = ConfigOpt,
                 older_than: str = typer.Option("30d", "--older-than", metavar="AGE",
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
    """The inbox of the configured store (exit 2 when the store cannot be opened)."""
    from syncd.store.inbox import Inbox

    cfg = load_config(config)
    store = open_store(cfg.store.url)
    return Inbox(store.engine, max_attempts=cfg.inbox.max_attempts)
