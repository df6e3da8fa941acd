"""One syncd process per SQLite file: an exclusive lock on `<db>.lock` beside it."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from syncd.errors import StoreBusy


def lock_sqlite(url: str) -> IO[str] | None:
    """Hold the store's lock file, open until closed (None for PostgreSQL or in-memory).

    Raises StoreBusy when another process holds it.
    """
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    path = Path(f"{parsed.database}.lock")
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise StoreBusy(f"another syncd process is already using {parsed.database} (lock {path}); "
                        "SQLite serves one process at a time — use PostgreSQL for several replicas"
                        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle
