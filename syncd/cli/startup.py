"""Start-up cost of a short-lived `syncd` process (as cron runs `run-once`).

Loading the CLI and a run's modules builds a few hundred thousand objects that live as long as
the process: modules, classes, SQLAlchemy and pydantic metadata. The cyclic garbage collector
would walk them again and again while they load, and once more on every full collection after.
`loading()` holds the collector off while a group of modules loads, then `gc.freeze()` moves
what exists into the permanent generation, which later collections skip. Measured by
`bench/noop_cycle.py`: about a sixth of a no-op run's wall time.

`startup_problem` is the other half of starting: what stopped a start, as one line naming the
config key to change.
"""

from __future__ import annotations

import errno
import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def loading() -> Iterator[None]:
    """Import inside this block with the collector paused; what was built is then frozen."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def startup_problem(exc: BaseException, store_url: str | None = None) -> str | None:
    """`<config key>: <what failed>` on one line when `exc` stopped syncd from starting, else None.

    A start-up failure is the operator's to fix in the config or the host (exit 2), not a ticket
    failing: the webhook port taken or not local (`webhook.port` / `webhook.host`), the store
    unreachable, refusing TLS or the SQLite file's directory missing or not writable (`store.url`).
    """
    from syncd.errors import StoreError
    from syncd.http.server import ServerStartError

    if isinstance(exc, ServerStartError):
        import socket

        not_local = isinstance(exc.cause, socket.gaierror) or _errno(exc.cause) == errno.EADDRNOTAVAIL
        key = "webhook.host" if not_local else "webhook.port"
        hint = {errno.EADDRINUSE: " (another process listens there: stop it or choose another port)",
                errno.EACCES: " (ports below 1024 need privileges: choose one above 1024)",
                errno.EADDRNOTAVAIL: " (not an address of this machine: use 0.0.0.0 or 127.0.0.1)"}
        return one_line(f"{key}: {exc}{hint.get(_errno(exc.cause) or -1, '')}")
    if isinstance(exc, StoreError):
        text = str(exc)
        return one_line(text if text.startswith("store.url") else f"store.url: {text}")
    if isinstance(exc, OSError) and exc.filename and store_url \
            and _in_sqlite_dir(str(exc.filename), store_url):
        reason = exc.strerror or type(exc).__name__
        return one_line(f"store.url: cannot open {exc.filename}: {reason} (the SQLite file's directory "
                        "must exist and be writable by syncd)")
    return None


def one_line(text: str) -> str:
    """`text` with its line breaks and runs of spaces folded into single spaces (drivers add `\\n\\t`)."""
    return " ".join(text.split())


def _errno(cause: object) -> int | None:
    return cause.errno if isinstance(cause, OSError) else None


def _in_sqlite_dir(filename: str, store_url: str) -> bool:
    """Whether `filename` is the SQLite store of `store_url` or a file beside it (its lock, journal)."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(store_url)
    except Exception:  # a malformed URL is reported by the store itself
        return False
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return False
    return Path(filename).parent == Path(parsed.database).parent
