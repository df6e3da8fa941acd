"""`syncd status`: links per connector and state, and the last runs."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from syncd.config import Config
from syncd.store.database import Store
from syncd.store.schema import LINK_STATES
from syncd.store.views import daemons_running
from syncd.terminal import cells


def print_status(config: Config, console: Console) -> None:
    store = Store.open(config.store.url)
    try:
        console.print(daemon_line(store), markup=False)
        counts = store.link_counts()
        # the states some link is in (synced, and creating or gone when there are any), in their order
        states = [s for s in LINK_STATES if any(s in row for row in counts.values())]
        table = Table("connector", *states, title="links")
        names = sorted(set(config.connectors) | set(counts))
        for connector in names:
            row = counts.get(connector, {})
            table.add_row(*cells(connector, *(row.get(s, 0) for s in states)))
        console.print(table if names else "links: none (no connector configured)", markup=False)
        gone = sum(row.get("gone", 0) for row in counts.values())
        if gone:
            console.print(f"{gone} record(s) deleted in the targets by people: syncd links list --state gone",
                          markup=False)
        runs = Table("run", "kind", "started", "seconds", "seen", "created", "updated", "unchanged", "failed",
                     title="last runs")
        last = store.last_runs(5)
        for r in last:
            runs.add_row(*cells(r["id"], r["kind"], str(r["started_at"])[:19],
                                f"{r['duration_seconds'] or 0:.1f}",
                                *(r[k] for k in ("seen", "created", "updated", "unchanged", "failed"))))
        console.print(runs if last else "last runs: none yet (syncd run-once, or syncd run)", markup=False)
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


def status_document(config: Config) -> dict[str, Any]:
    """`syncd status --output json`: the same facts as the tables, as one document (see README)."""
    from syncd.config import sync_back_connectors
    from syncd.store.inbox import Inbox
    from syncd.store.observed import ObservedStore

    store = Store.open(config.store.url)
    try:
        counts = store.link_counts()
        observed = ObservedStore(store.engine)
        back = []
        for name in sync_back_connectors(config):
            count, last, handshake = observed.summary(name)
            back.append({"connector": name, "records_observed": count, "last_read": last,
                         "webhook": ("secret configured" if config.connectors[name].webhook_secret
                                     else "handshake secret stored" if handshake else "none")})
        return {
            "links": {c: {s: counts.get(c, {}).get(s, 0) for s in LINK_STATES}
                      for c in sorted(set(config.connectors) | set(counts))},
            "runs": [{k: r.get(k) for k in RUN_FIELDS} for r in store.last_runs(5)],
            "sync_back": back,
            "inbox": dict(sorted(Inbox(store.engine).counts().items())),
            "daemons": [{"host": d.host, "pid": d.pid, "leader": d.leader, "heartbeat_at": d.heartbeat_at,
                         "last_poll_at": d.last_poll_at, "next_poll_at": d.next_poll_at}
                        for d in daemons_running(store.engine)],
        }
    finally:
        store.close()


def daemon_line(store: Store) -> str:
    """Whether a daemon runs on this store (its heartbeat, written every 10 s) and when it next polls."""
    found = daemons_running(store.engine)
    if not found:
        return "daemon: none running on this store (no heartbeat in the last minute)"
    lead = next((d for d in found if d.leader), None)
    others = f" (+{len(found) - 1} replica(s))" if len(found) > 1 else ""
    if lead is None:
        return f"daemon: {len(found)} running, none leads the schedule yet"
    when = lead.next_poll_at.isoformat(timespec="seconds") if lead.next_poll_at else "not scheduled"
    return f"daemon: running on {lead.host} pid {lead.pid}{others}; next poll {when}"


# The columns of a run in `status --output json`, in this order.
RUN_FIELDS = ("id", "kind", "started_at", "duration_seconds", "seen", "created", "updated", "unchanged",
              "failed")
