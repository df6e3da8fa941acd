"""The mapping store: where every ticket went (links), the webhook inbox, observed target states.

SQLAlchemy Core on SQLite (default) or PostgreSQL, with Alembic migrations (`migrations/`).
`database` owns links, sub-task links and runs; `inbox` the events; `observed` what sync-back
read from the targets; `locks` per-ticket mutual exclusion; `lockfile` one daemon per SQLite file.
"""

from syncd.store.database import ItemLink, Link, RunCounts, Store, StoreError
from syncd.store.inbox import Claim, Event, Inbox, NewEvent
from syncd.store.observed import LinkedRecord, Observed, ObservedStore

__all__ = ["Claim", "Event", "Inbox", "ItemLink", "Link", "LinkedRecord", "NewEvent", "Observed", "ObservedStore",
           "RunCounts", "Store", "StoreError"]
