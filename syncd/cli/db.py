"""`syncd db`: maintenance of the mapping store — apply its migrations, forget a stored webhook secret."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from syncd.cli.common import EXIT_CONFIG, ConfigOpt, fail, load_config, out
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
    except SyncdError as exc:
        fail(str(exc))
    out.print(f"store at revision {revision}")


@db_app.command("forget-hook-secret")
def db_forget_hook_secret(connector: str = typer.Argument(
                              ..., help="The connector whose webhook is re-registered."),
                          config: Optional[Path] = ConfigOpt) -> None:
    """Drop the secret an Asana webhook handshake stored, so the next handshake is accepted."""
    from syncd.store.database import Store
    from syncd.store.observed import ObservedStore

    cfg = load_config(config)
    if connector not in cfg.connectors:
        fail(f"no connector named {connector!r} (configured: {', '.join(cfg.connectors) or 'none'})",
             EXIT_CONFIG)
    try:
        forgot = ObservedStore(Store.open(cfg.store.url).engine).forget_hook_secret(connector)
    except SyncdError as exc:
        fail(str(exc))
    out.print(f"{connector}: {'secret forgotten' if forgot else 'no secret was stored'}; "
              f"register the webhook again with POST /-/webhooks/{connector} on the running daemon",
              markup=False)
