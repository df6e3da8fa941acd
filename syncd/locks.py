"""Per-ticket mutual exclusion (DESIGN invariant 3): two workers never reconcile one ticket at once."""

from __future__ import annotations

import threading
from collections import defaultdict
from contextlib import contextmanager
from typing import Any, Iterator


class TicketLocks:
    """Per-ticket mutual exclusion (DESIGN invariant 3): in this process, and across replicas.

    With a PostgreSQL store, a session advisory lock keyed by the ticket id is also held for the
    whole reconcile, so two replicas never work on one ticket at once.
    """

    def __init__(self, store_url: str | None = None) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._users: dict[str, int] = defaultdict(int)
        self._engine: Any = None
        if store_url and store_url.startswith("postgresql"):
            import sqlalchemy as sa

            self._engine = sa.create_engine(store_url, pool_size=4, max_overflow=16, pool_pre_ping=True)

    @contextmanager
    def hold(self, ticket_id: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(ticket_id, threading.Lock())
            self._users[ticket_id] += 1
        try:
            with lock, self._across_replicas(ticket_id):
                yield
        finally:
            with self._guard:
                self._users[ticket_id] -= 1
                if not self._users[ticket_id]:
                    del self._users[ticket_id], self._locks[ticket_id]

    @contextmanager
    def _across_replicas(self, ticket_id: str) -> Iterator[None]:
        if self._engine is None:
            yield
            return
        import hashlib

        import sqlalchemy as sa

        key = int.from_bytes(hashlib.sha256(f"syncd:{ticket_id}".encode()).digest()[:8], "big", signed=True)
        with self._engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
