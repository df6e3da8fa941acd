"""Run the syncd CLI with every SQL statement timed: `python querylog.py OUT.json SYNCD-ARGS...`.

A SQLAlchemy listener on every Engine notes each statement's execution time (cursor execute to
return, i.e. what the process waits for, driver included) by statement shape — bind lists
folded, so `IN (?, ?, ?)` of any length is one shape — and writes {shape: [count, total s, max s]}
to OUT.json at exit (the daemon exits through its SIGTERM handler, so atexit runs). The same
code times SQLite and PostgreSQL, and the tree under test is whatever `syncd` imports (PYTHONPATH).
Cost: two `perf_counter` calls and a dict update per statement, ≈ 2–4 µs.
"""

from __future__ import annotations

import atexit
import json
import re
import sys
import threading
import time
from typing import Any

_LISTS = re.compile(r"\((?:\s*(?:\?|%\([a-z_0-9]+\)s|\$\d+|__\[POSTCOMPILE_\w+\])\s*,?)+\)")
_SPACE = re.compile(r"\s+")
_ROWS = re.compile(r"\(…\)(?:, \(…\))+")  # the rows of a multi-row INSERT


def shape(statement: str) -> str:
    """One line, bind lists folded to `(…)`."""
    return _ROWS.sub("(…), …", _SPACE.sub(" ", _LISTS.sub("(…)", statement)).strip())


def install(out: str) -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    stats: dict[str, list[float]] = {}
    lock = threading.Lock()
    local = threading.local()

    @event.listens_for(Engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        local.t0 = time.perf_counter()

    @event.listens_for(Engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        elapsed = time.perf_counter() - getattr(local, "t0", time.perf_counter())
        with lock:
            row = stats.get(statement)
            if row is None:
                stats[statement] = [1, elapsed, elapsed]
            else:
                row[0] += 1
                row[1] += elapsed
                if elapsed > row[2]:
                    row[2] = elapsed

    def _dump() -> None:
        folded: dict[str, list[float]] = {}
        with lock:
            for statement, (n, total, worst) in stats.items():
                row = folded.setdefault(shape(statement), [0, 0.0, 0.0])
                row[0] += n
                row[1] += total
                row[2] = max(row[2], worst)
        with open(out, "w") as f:
            json.dump(folded, f)

    atexit.register(_dump)


def main() -> None:
    out, args = sys.argv[1], sys.argv[2:]
    install(out)
    sys.argv = ["syncd", *args]
    from syncd.__main__ import main as syncd_main

    syncd_main()


if __name__ == "__main__":
    main()
