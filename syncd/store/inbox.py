"""The durable inbox: webhook events are stored before they are acknowledged, then worked off.

States (`EventState`): pending → running → done; failures go back to pending with exponential
backoff, and after `max_attempts` to dead (visible and retryable from the CLI). Event types that
need no work are stored as `ignored`, so a repeated delivery is still recognised by its id.

Per-ticket order (docs/design.md invariant 3): `claim` never hands out a ticket that has an event in
`running` under a live lease, and it hands out all pending events of one ticket together —
the worker reconciles the ticket once, fresh from Cogny, which serves every one of them.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Engine, RowMapping
from sqlalchemy.sql.dml import Insert

from syncd import backoff
from syncd.store.database import utcnow
from syncd.store.schema import EventState, events

FINISHED: tuple[EventState, ...] = ("done", "ignored", "dead")  # no work left: what `purge` may delete


@dataclass
class Event:
    """One stored event: a webhook delivery (or a sync-back poll's change) and how its work went."""

    id: int
    event_id: str
    source: str
    type: str
    ticket_id: str | None
    payload: dict[str, Any]
    state: EventState
    attempts: int
    last_error: str | None
    received_at: datetime
    next_attempt_at: datetime | None = None


@dataclass
class Claim:
    """Every pending event of one ticket, claimed together."""

    ticket_id: str | None
    events: list[Event]

    @property
    def ids(self) -> list[int]:
        return [e.id for e in self.events]


@dataclass(frozen=True)
class NewEvent:
    """An event to store: `pending` if it needs work, `ignored` if it is kept only to spot replays."""

    event_id: str
    type: str
    ticket_id: str | None
    payload: str
    source: str = "cogny"
    state: EventState = "pending"


class Inbox:
    def __init__(self, engine: Engine, *, max_attempts: int = 8, backoff: float = 2.0,
                 max_backoff: float = 600.0, lease_seconds: float = 300.0):
        self.engine = engine
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.lease = timedelta(seconds=lease_seconds)
        self._claim_lock = threading.Lock()  # one claimer at a time per process
        self._postgres = engine.dialect.name == "postgresql"

    # -- ingest ----------------------------------------------------------------------------
    def add_many(self, items: Iterable[NewEvent]) -> list[bool]:
        """Store events in one transaction; returns, per item, whether it was new (not a replay)."""
        items = list(items)
        if not items:
            return []
        now = utcnow()
        ids = [i.event_id for i in items]
        with self.engine.begin() as conn:
            known = set(conn.execute(sa.select(events.c.event_id)
                                     .where(events.c.event_id.in_(ids))).scalars())
            fresh: dict[str, NewEvent] = {}
            for item in items:
                if item.event_id not in known and item.event_id not in fresh:
                    fresh[item.event_id] = item
            if fresh:
                rows = [dict(event_id=i.event_id, source=i.source, type=i.type, ticket_id=i.ticket_id,
                             payload=i.payload, state=i.state, attempts=0, next_attempt_at=now,
                             received_at=now, updated_at=now) for i in fresh.values()]
                conn.execute(_insert_ignoring_duplicates(self.engine), rows)
        seen: set[str] = set()
        out = []
        for item in items:
            out.append(item.event_id not in known and item.event_id not in seen)
            seen.add(item.event_id)
        return out

    def add(self, item: NewEvent) -> bool:
        return self.add_many([item])[0]

    # -- work ------------------------------------------------------------------------------
    def claim(self, worker: str, limit: int = 8) -> list[Claim]:
        """Claim up to `limit` tickets' worth of due events, skipping tickets already in work."""
        now = utcnow()
        with self._claim_lock, self.engine.begin() as conn:
            busy = set(conn.execute(sa.select(events.c.ticket_id).where(
                events.c.state == "running", events.c.claimed_until > now)).scalars())
            due = sa.select(events).where(
                sa.or_(sa.and_(events.c.state == "pending", events.c.next_attempt_at <= now),
                       sa.and_(events.c.state == "running", events.c.claimed_until <= now))  # lease expired
            ).order_by(events.c.id).limit(limit * 16)
            if self._postgres:
                due = due.with_for_update(skip_locked=True)
            rows = conn.execute(due).mappings().all()
            groups: dict[str | None, list[RowMapping]] = {}
            for row in rows:
                tid = row["ticket_id"]
                if tid in busy or (tid not in groups and len(groups) >= limit):
                    continue
                groups.setdefault(tid, []).append(row)
            if not groups:
                return []
            ids = [r["id"] for rs in groups.values() for r in rs]
            conn.execute(events.update().where(events.c.id.in_(ids)).values(
                state="running", claimed_by=worker, claimed_until=now + self.lease, updated_at=now))
        return [Claim(tid, [_event(r) for r in rs]) for tid, rs in groups.items()]

    def done(self, ids: list[int]) -> None:
        self._set(ids, state="done", last_error=None, claimed_by=None, claimed_until=None)

    def ignore(self, ids: list[int], reason: str) -> None:
        self._set(ids, state="ignored", last_error=reason[:2000], claimed_by=None, claimed_until=None)

    def fail(self, claim: Claim, error: str) -> EventState:
        """Back to pending after a backoff delay (jitter keeps at least half of it), or dead after
        max_attempts; returns the new state."""
        attempts = max(e.attempts for e in claim.events) + 1
        now = utcnow()
        state: EventState
        next_at: datetime | None
        if attempts >= self.max_attempts:
            state, next_at = "dead", None
        else:
            delay = backoff.delay(attempts, self.backoff, self.max_backoff, floor=0.5)
            state, next_at = "pending", now + timedelta(seconds=delay)
        with self.engine.begin() as conn:
            conn.execute(events.update().where(events.c.id.in_(claim.ids)).values(
                state=state, attempts=attempts, next_attempt_at=next_at, last_error=error[:2000],
                claimed_by=None, claimed_until=None, updated_at=now))
        return state

    def release(self, ids: list[int]) -> None:
        """Hand claimed events back untouched (shutdown)."""
        self._set(ids, state="pending", claimed_by=None, claimed_until=None)

    def _set(self, ids: list[int], **values: Any) -> None:
        """Set `values` on the events `ids` (their `updated_at` too)."""
        if not ids:
            return
        with self.engine.begin() as conn:
            conn.execute(events.update().where(events.c.id.in_(ids)).values(updated_at=utcnow(), **values))

    # -- operations ------------------------------------------------------------------------
    def retry(self, ids: list[int] | None = None, *, all_dead: bool = False) -> int:
        query = events.update().where(events.c.state.in_(("dead", "pending") if ids else ("dead",)))
        if ids:
            query = query.where(events.c.id.in_(ids))
        elif not all_dead:
            return 0
        with self.engine.begin() as conn:
            result = conn.execute(query.values(state="pending", attempts=0, next_attempt_at=utcnow(),
                                               updated_at=utcnow()))
            return result.rowcount or 0

    def purge(self, older_than: timedelta) -> int:
        cutoff = utcnow() - older_than
        with self.engine.begin() as conn:
            result = conn.execute(events.delete().where(
                events.c.state.in_(FINISHED), events.c.updated_at < cutoff))
            return result.rowcount or 0

    def counts(self) -> dict[EventState, int]:
        with self.engine.connect() as conn:
            return {s: n for s, n in conn.execute(
                sa.select(events.c.state, sa.func.count()).group_by(events.c.state)).all()}

    def list(self, state: str | None = None, limit: int = 100) -> list[Event]:
        """The newest `limit` events, of one state if given (any text: `syncd events list --state`)."""
        query = sa.select(events).order_by(events.c.id.desc()).limit(limit)
        if state:
            query = query.where(events.c.state == state)
        with self.engine.connect() as conn:
            return [_event(r) for r in conn.execute(query).mappings().all()]

    def get(self, event_id: str) -> Event | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(events).where(events.c.event_id == event_id)).mappings().first()
        return _event(row) if row else None


def _insert_ignoring_duplicates(engine: Engine) -> Insert:
    """A replay racing its original must not fail the batch: ON CONFLICT DO NOTHING on both dialects."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(events).on_conflict_do_nothing(index_elements=["event_id"])
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(events).on_conflict_do_nothing(index_elements=["event_id"])


def _event(row: RowMapping) -> Event:
    try:
        payload = json.loads(row["payload"])
    except ValueError:
        payload = {}
    return Event(row["id"], row["event_id"], row["source"], row["type"], row["ticket_id"], payload,
                 row["state"], row["attempts"], row["last_error"], row["received_at"], row["next_attempt_at"])
