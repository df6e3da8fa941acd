"""Start-up cost of a short-lived `syncd` process (as cron runs `run-once`).

Loading the CLI and a run's modules builds a few hundred thousand objects that live as long as
the process: modules, classes, SQLAlchemy and pydantic metadata. The cyclic garbage collector
would walk them again and again while they load, and once more on every full collection after.
`loading()` holds the collector off while a group of modules loads, then `gc.freeze()` moves
what exists into the permanent generation, which later collections skip. Measured by
`bench/noop_cycle.py`: about a sixth of a no-op run's wall time.
"""

from __future__ import annotations

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
