"""`syncd routes`: try the configured routing on a made-up ticket, without Cogny or any target."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from syncd.cli.common import EXIT_CONFIG, ConfigOpt, Output, OutputOpt, fail, load_config, out, print_json
from syncd.models import CATEGORIES, PRIORITIES, STATUSES

routes_app = typer.Typer(help="Inspect routing.", no_args_is_help=True)
# The values Cogny sends for each enum field (warehouse ids are free text).
VALID: dict[str, tuple[str, ...]] = {"priority": PRIORITIES, "category": CATEGORIES, "status": STATUSES}


@routes_app.command("test")
def routes_test(config: Optional[Path] = ConfigOpt,
                labels: list[str] = typer.Argument(
                    ..., metavar="KEY=VALUE",
                    help="Ticket fields: priority, category, status, warehouse_id."),
                output: Output = OutputOpt) -> None:
    """Print which connectors a ticket with these fields would reach. A value Cogny never sends
    (`priority=hgh`) exits 2 naming the valid ones."""
    from syncd.engine import routing

    cfg = load_config(config)
    ticket: dict[str, Any] = {}
    for item in labels:
        key, sep, value = item.partition("=")
        if not sep or key not in routing.MATCH_KEYS:
            fail(f"expected KEY=VALUE with KEY one of {', '.join(routing.MATCH_KEYS)}, got {item!r}",
                 EXIT_CONFIG)
        if key in VALID and value not in VALID[key]:
            fail(f"{key}: unknown value {value!r} (valid: {', '.join(VALID[key])})", EXIT_CONFIG)
        ticket[key] = value
    explained = routing.explain(ticket, cfg.routes)
    targets = routing.route(ticket, cfg.routes, cfg.connectors)
    if output is Output.json:
        print_json({"ticket": ticket,
                    "routes": [{"index": i, "matched": m, "connectors": names} for i, m, names in explained],
                    "connectors": targets})
        return
    for index, matched, names in explained:
        out.print(f"route {index}: {'match' if matched else 'no match'} -> {', '.join(names)}", markup=False)
    out.print(", ".join(targets) if targets else "(no connector)", markup=False)
