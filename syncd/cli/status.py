"""`syncd status`: links per connector and state, and the last runs."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from syncd.config import Config
from syncd.store.database import Store
from syncd.terminal import cells


def print_status(config: Config, console: Console) -> None:
    store = Store.open(config.store.url)
    try:
        counts = store.link_counts()
        states = sorted({s for row in counts.values() for s in row})
        table = Table("connector", *states, title="links")
        for connector in sorted(set(config.connectors) | set(counts)):
            row = counts.get(connector, {})
            table.add_row(*cells(connector, *(row.get(s, 0) for s in states)))
        console.print(table)
        runs = Table("run", "kind", "started", "seconds", "seen", "created", "updated", "unchanged", "failed",
                     title="last runs")
        for r in store.last_runs(5):
            runs.add_row(*cells(r["id"], r["kind"], str(r["started_at"])[:19],
                                f"{r['duration_seconds'] or 0:.1f}",
                                *(r[k] for k in ("seen", "created", "updated", "unchanged", "failed"))))
        console.print(runs)
        _print_sync_back(config, store, console)
        from syncd.store.inbox import Inbox

        depth = Inbox(store.engine).counts()
        console.print("inbox: " + (", ".join(f"{k} {v}" for k, v in sorted(depth.items())) or "empty"))
        if depth.get("dead"):
            console.print(f"[red]{depth['dead']} dead event(s)[/red]: syncd events list --state dead; "
                          "syncd events retry --all-dead")
    finally:
        store.close()


def _print_sync_back(config: Config, store: Store, console: Console) -> None:
    from syncd.config import sync_back_connectors

    names = sync_back_connectors(config)
    if not names:
        return
    from syncd.store.observed import ObservedStore

    observed = ObservedStore(store.engine)
    table = Table("connector", "records observed", "last read", "webhook", title="sync-back")
    for name in names:
        count, last, handshake = observed.summary(name)
        entry = config.connectors[name]
        hook = ("secret configured" if entry.webhook_secret
                else "handshake secret stored" if handshake else "none")
        table.add_row(*cells(name, count, str(last)[:19] if last else "never", hook))
    console.print(table)
