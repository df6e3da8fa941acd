"""The real engine for a connector's tests: a `Reconciler` on an SQLite store, Cogny kept in memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from syncd.engine.reconcile import Reconciler
from syncd.models import Ticket
from syncd.store.database import Store
from syncd.testing import InMemoryCogny


def engine(tmp_path: Path, connector: Any, db: str = "syncd.db",
           cogny: InMemoryCogny | None = None) -> Reconciler:
    """A `Reconciler` with `connector` under its name and its own store `db` (a second one: a lost store)."""
    store = Store.open(f"sqlite:///{tmp_path / db}")
    return Reconciler(store, cogny or InMemoryCogny(), {connector.name: connector})


def reconcile(rec: Reconciler, ticket: Ticket, targets: list[str] | None = None, **kw: Any) -> Any:
    """`rec.reconcile(ticket, targets)`, with the ticket in Cogny first (syncd only reads tickets that exist).

    A ticket Cogny holds already is left as Cogny has it: its notes are what write-back reads.
    """
    assert isinstance(rec.cogny, InMemoryCogny)
    if ticket.id not in rec.cogny.tickets:
        rec.cogny.add(ticket)
    return rec.reconcile(ticket, targets or list(rec.connectors), **kw)
