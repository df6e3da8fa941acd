"""Who runs the schedule when several replicas share one PostgreSQL store.

Leadership is a PostgreSQL session advisory lock held on a dedicated connection: when the
leader dies its connection closes, the lock is released, and another replica takes it at its
next check (`schedule.leader_check_seconds`). On SQLite there is one process, so it leads.
"""

from __future__ import annotations

import threading
from typing import Callable

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection, Engine

log = structlog.get_logger("syncd.leader")
LOCK_KEY = 0x53594E4344  # "SYNCD": the advisory lock id every replica contends for


class Leadership:
    def __init__(self, url: str, check_seconds: float = 10.0, on_elected: Callable[[], None] = lambda: None):
        self.url = url
        self.check_seconds = check_seconds
        self.on_elected = on_elected
        self.postgres = url.startswith("postgresql")
        self._leader = not self.postgres
        self._engine: Engine | None = (sa.create_engine(url, poolclass=sa.pool.NullPool) if self.postgres
                                       else None)
        self._conn: Connection | None = None  # holds the lock while this replica leads
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="leadership", daemon=True)

    @property
    def is_leader(self) -> bool:
        return self._leader

    def start(self) -> None:
        if self.postgres:
            self._check()
            self._thread.start()
        elif self._leader:
            self.on_elected()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._release()

    def _loop(self) -> None:
        while not self._stop.wait(self.check_seconds):
            self._check()

    def _check(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(sa.text("SELECT 1"))
                return
            except Exception as exc:  # the server or our session went away: we no longer lead
                log.warning("lost scheduler leadership", error=type(exc).__name__)
                self._release()
        assert self._engine is not None  # checks run on PostgreSQL only
        try:
            conn = self._engine.connect()
            got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}).scalar()
            conn.commit()
        except Exception as exc:
            log.warning("leadership check failed", error=type(exc).__name__)
            return
        if got:
            self._conn, self._leader = conn, True
            log.info("became scheduler leader")
            self.on_elected()
        else:
            conn.close()

    def _release(self) -> None:
        self._leader = not self.postgres
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
            self._conn = None
