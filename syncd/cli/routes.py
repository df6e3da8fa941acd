"""`syncd routes`: try the configured routing on a made-up ticket, without Cogny or any target."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from syncd.cli.common import EXIT_CONFIG, ConfigOpt, fail, load_config, out

routes_app = typer.Typer(help="Inspect routing.", no_args_is_help=True)


@routes_app.command("test")
def routes_test(config: Optional[Path] = ConfigOpt,
                labels: list[str] = typer.Argument(
                    ..., metavar="KEY=VALUE...",
                    help="Ticket fields: priority, category, status, warehouse_id.")) -> None:
    """Print which connectors a ticket with these fields would reach."""
    from syncd.engine import routing

    cfg = load_config(config)
    ticket: dict[str, Any] = {}
    for item in labels:
        key, sep, value = item.partition("=")
        if not sep or key not in routing.MATCH_KEYS:
            fail(f"expected KEY=VALUE with KEY one of {', '.join(routing.MATCH_KEYS)}, got {item!r}",
                 EXIT_CONFIG)
        ticket[key] = value
    for index, matched, names in routing.explain(ticket, cfg.routes):
        out.print(f"route {index}: {'match' if matched else 'no match'} -> {', '.join(names)}", markup=False)
    targets = routing.route(ticket, cfg.routes, cfg.connectors)
    out.print(", ".join(targets) if targets else "(no connector)", markup=False)
