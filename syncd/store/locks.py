"""Per-ticket mutual exclusion (docs/design.md invariant 3): two workers never reconcile one ticket
at once."""

from __future__ import annotations

import threading
from collections import defaultdict
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


class TicketLocks:
    """Per-ticket mutual exclusion (docs/design.md invariant 3): in this process, and across replicas.

    With a PostgreSQL store, a session advisory lock keyed by the ticket id is also held for the
    whole reconcile, so two replicas never work on one ticket at once.
    """

    def __init__(self, store_url: str | None = None) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._users: dict[str, int] = defaultdict(int)
        self._engine: Engine | None = None  # PostgreSQL only: the advisory locks' connections
        if store_url and store_url.startswith("postgresql"):
            import sqlalchemy as sa

            self._engine = sa.create_engine(store_url, pool_size=4, max_overflow=16, pool_pre_ping=True)

    @contextmanager
    def hold(self, ticket_id: str) -> Iterator[None]:
        lock = self._enter(ticket_id)
        try:
            with lock, self._across_replicas(ticket_id):
                yield
        finally:
            self._leave(ticket_id)

    @contextmanager
    def try_hold_many(self, ticket_ids: list[str]) -> Iterator[set[str]]:
        """Hold as many of `ticket_ids` as are free right now, without waiting; yields those held.

        For a page's bulk create: a ticket someone is reconciling is left to the per-ticket path.
        Never waiting is also what keeps this deadlock-free beside `hold`. Across replicas, one
        connection takes `pg_try_advisory_lock` for each ticket held here.
        """
        held: dict[str, threading.Lock] = {}
        try:
            for ticket_id in dict.fromkeys(ticket_ids):
                lock = self._enter(ticket_id)
                if lock.acquire(blocking=False):
                    held[ticket_id] = lock
                else:
                    self._leave(ticket_id)
            with self._try_across_replicas(list(held)) as free:
                for ticket_id in [t for t in held if t not in free]:
                    held.pop(ticket_id).release()
                    self._leave(ticket_id)
                yield set(held)
        finally:
            for ticket_id, lock in held.items():
                lock.release()
                self._leave(ticket_id)

    def _enter(self, ticket_id: str) -> threading.Lock:
        """The ticket's lock, counted as in use until `_leave` (then forgotten if nobody else uses it)."""
        with self._guard:
            self._users[ticket_id] += 1
            return self._locks.setdefault(ticket_id, threading.Lock())

    def _leave(self, ticket_id: str) -> None:
        with self._guard:
            self._users[ticket_id] -= 1
            if not self._users[ticket_id]:
                del self._users[ticket_id], self._locks[ticket_id]

    @contextmanager
    def _try_across_replicas(self, ticket_ids: list[str]) -> Iterator[set[str]]:
        if self._engine is None or not ticket_ids:
            yield set(ticket_ids)
            return
        import sqlalchemy as sa

        by_key = {_key(t): t for t in ticket_ids}
        with self._engine.connect() as conn:
            rows = conn.execute(sa.text(_TRY_LOCKS), {"keys": list(by_key)}).all()
            conn.commit()
            taken = [k for k, ok in rows if ok]
            try:
                yield {by_key[k] for k in taken}
            finally:
                if taken:
                    conn.execute(sa.text(_UNLOCKS), {"keys": taken})
                conn.commit()

    @contextmanager
    def _across_replicas(self, ticket_id: str) -> Iterator[None]:
        if self._engine is None:
            yield
            return
        import sqlalchemy as sa

        key = _key(ticket_id)
        with self._engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()


def _key(ticket_id: str) -> int:
    """The advisory lock key of a ticket: 64 bits of a hash of its id."""
    import hashlib

    return int.from_bytes(hashlib.sha256(f"syncd:{ticket_id}".encode()).digest()[:8], "big", signed=True)


_TRY_LOCKS = "SELECT k, pg_try_advisory_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k"
_UNLOCKS = "SELECT pg_advisory_unlock(k) FROM unnest(CAST(:keys AS bigint[])) AS k"
