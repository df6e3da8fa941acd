"""`syncd db`: maintenance of the mapping store — apply its migrations, forget a stored webhook secret."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from syncd.cli.common import EXIT_CONFIG, ConfigOpt, fail, load_config, open_store, out
from syncd.cli.startup import startup_problem
from syncd.errors import SyncdError

db_app = typer.Typer(help="Manage the mapping store.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(config: Optional[Path] = ConfigOpt) -> None:
    """Apply the store's migrations (also done at every start)."""
    from syncd.store.database import Store

    cfg = load_config(config)
    try:
        store = Store.open(cfg.store.url, migrate=False)
        revision = store.migrate()
    except (SyncdError, OSError) as exc:  # unreachable, TLS refused, directory missing: exit 2
        fail(startup_problem(exc, cfg.store.url) or str(exc), EXIT_CONFIG)
    out.print(f"store at revision {revision}")


@db_app.command("forget-hook-secret")
def db_forget_hook_secret(connector: str = typer.Argument(
                              ..., metavar="NAME",
                              help="The Asana connector whose webhook is registered again."),
                          config: Optional[Path] = ConfigOpt) -> None:
    """Drop the secret an Asana webhook handshake stored, so that Asana's next handshake (when the
    webhook is registered again) is accepted."""
    from syncd.store.observed import ObservedStore

    cfg = load_config(config)
    if connector not in cfg.connectors:
        fail(f"no connector named {connector!r} (configured: {', '.join(cfg.connectors) or 'none'})",
             EXIT_CONFIG)
    forgot = ObservedStore(open_store(cfg.store.url).engine).forget_hook_secret(connector)
    out.print(f"{connector}: {'secret forgotten' if forgot else 'no secret was stored'}; "
              f"register the webhook again with POST /-/webhooks/{connector} on the running daemon",
              markup=False)
