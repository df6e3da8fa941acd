"""The mapping store: where every ticket went (links), the webhook inbox, observed target states.

SQLAlchemy Core on SQLite (default) or PostgreSQL, with Alembic migrations (`migrations/`).
`database` owns links, sub-task links and runs; `inbox` the events; `observed` what sync-back
read from the targets; `locks` per-ticket mutual exclusion; `lockfile` one daemon per SQLite file;
`schema` the tables and the states a link (`LinkState`) and an event (`EventState`) can be in.
"""

from syncd.store.database import ItemLink, Link, RunCounts, Store
from syncd.store.inbox import Claim, Event, Inbox, NewEvent
from syncd.store.observed import LinkedRecord, Observed, ObservedStore
from syncd.store.schema import EVENT_STATES, LINK_STATES, EventState, LinkState

__all__ = ["EVENT_STATES", "LINK_STATES", "Claim", "Event", "EventState", "Inbox", "ItemLink", "Link",
           "LinkState", "LinkedRecord", "NewEvent", "Observed", "ObservedStore", "RunCounts", "Store"]
