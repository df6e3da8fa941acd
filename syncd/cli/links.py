"""`syncd links`: where tickets went — one row per (ticket, connector) link in the store."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from syncd.cli.common import EXIT_CONFIG, ConfigOpt, Output, OutputOpt, fail, load_config, open_store, out
from syncd.errors import SyncdError
from syncd.redact import redact

links_app = typer.Typer(help="Show where tickets went.", no_args_is_help=True)


@links_app.command("list")
def links_list(config: Optional[Path] = ConfigOpt,
               ticket: Optional[str] = typer.Option(None, "--ticket", metavar="ID",
                                                    help="Only this ticket id."),
               connector: Optional[str] = typer.Option(None, "--connector", metavar="NAME",
                                                       help="Only this connector."),
               state: Optional[str] = typer.Option(None, "--state", metavar="STATE",
                                                   help="Only links in this state: creating, synced, gone."),
               limit: int = typer.Option(200, "--limit", min=1, metavar="N", help="Show at most N links."),
               every: bool = typer.Option(False, "--all", help="Show every link (no --limit)."),
               output: Output = OutputOpt) -> None:
    """List links: ticket, connector, state, external key and URL (a summary first)."""
    from syncd.cli import listing
    from syncd.store.schema import LINK_STATES, links

    cfg = load_config(config)
    listing.check_choice("--state", state, LINK_STATES, "state")
    store = open_store(cfg.store.url)
    # A connector taken out of the config may still have links: those names are valid too.
    listing.check_choice("--connector", connector,
                         [*cfg.connectors, *listing.count_by(store.engine, links, "connector")], "connector")
    where = [c == v for c, v in ((links.c.ticket_id, ticket), (links.c.connector, connector),
                                 (links.c.state, state)) if v is not None]
    counts = listing.count_by(store.engine, links, "state", where)
    found = store.list_links(ticket_id=ticket, connector=connector, state=state,  # type: ignore[arg-type]
                             limit=None if every else limit)
    listing.show(noun="link", counts=counts, output=output,
                 columns=("ticket", "connector", "state", "key", "url", "last error"),
                 whole=("ticket", "connector", "state", "key"), share={"url": 3, "last error": 2},
                 rows=[[ln.ticket_id, ln.connector, ln.state, ln.external_key or ln.external_id,
                        ln.external_url, redact(ln.last_error or "")[:80]] for ln in found],
                 document={"links": [{"ticket_id": ln.ticket_id, "connector": ln.connector, "state": ln.state,
                                      "external_id": ln.external_id, "external_key": ln.external_key,
                                      "external_url": ln.external_url, "synced_at": ln.synced_at,
                                      "last_error": redact(ln.last_error) if ln.last_error else None}
                                     for ln in found]})


@links_app.command("forget")
def links_forget(
    ticket: str = typer.Argument(..., help="The ticket id, e.g. tkt_8f2a1c."),
    connector: str = typer.Option(..., "--connector", help="The connector whose record to forget."),
    config: Optional[Path] = ConfigOpt,
) -> None:
    """Forget where a ticket's record is in one connector, so that the next run looks for it afresh.

    For a record a person deleted (state gone): the next run creates one new record. For one that
    still exists: the next run finds it again by its marker. Nothing is sent now.
    """
    from syncd.store.database import Store

    cfg = load_config(config)
    if connector not in cfg.connectors:
        fail(f"--connector: no connector {connector!r} in the config "
             f"(configured: {', '.join(cfg.connectors)})", EXIT_CONFIG)
    try:
        store = Store.open(cfg.store.url)
    except SyncdError as exc:
        fail(str(exc))
    link = store.get_link(ticket, connector)
    if link is None:
        fail(f"{ticket}: no link in {connector}; nothing to forget", EXIT_CONFIG)
    store.restart_link(link)
    was = link.external_key or link.external_id or "no record yet"
    out.print(f"forgot {ticket} → {connector} ({was}, {link.state}); the next run looks for it afresh",
              markup=False)
