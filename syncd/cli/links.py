"""`syncd links`: where tickets went — one row per (ticket, connector) link in the store."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from syncd.cli.common import ConfigOpt, fail, load_config, out
from syncd.errors import SyncdError
from syncd.redact import redact
from syncd.terminal import cells

links_app = typer.Typer(help="Show where tickets went.", no_args_is_help=True)


@links_app.command("list")
def links_list(config: Optional[Path] = ConfigOpt,
               ticket: Optional[str] = typer.Option(None, "--ticket", help="Only this ticket id."),
               connector: Optional[str] = typer.Option(None, "--connector", help="Only this connector."),
               limit: int = typer.Option(200, "--limit", min=1)) -> None:
    """List links: ticket, connector, state, external key and URL."""
    from syncd.store.database import Store

    cfg = load_config(config)
    try:
        store = Store.open(cfg.store.url)
    except SyncdError as exc:
        fail(str(exc))
    table = Table("ticket", "connector", "state", "key", "url", "last error")
    for ln in store.list_links(ticket_id=ticket, connector=connector, limit=limit):
        table.add_row(*cells(ln.ticket_id, ln.connector, ln.state, ln.external_key or ln.external_id,
                             ln.external_url, redact(ln.last_error or "")[:80]))
    out.print(table)
