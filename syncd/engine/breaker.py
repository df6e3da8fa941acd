"""A cycle's circuit breaker: a target that refuses the credentials or cannot be reached is
switched off for the rest of the cycle after its first such failure.

Without it, a wrong JIRA token over 2,000 tickets is 2,000 failing calls (each retried when the
server is unreachable) and as many error lines; with it, one failure, one warning, and the
other tickets of that target wait for the next cycle — `CycleReport.switched_off` groups them
into one line pointing at `syncd check-config --connect`. Other targets go on. Only causes that
cannot differ from one ticket to the next switch a target off: HTTP 401/403, a failed DNS lookup,
a refused connection; anything else fails its ticket alone, as before.
"""

from __future__ import annotations

import threading

import structlog

from syncd.errors import ServiceError

log = structlog.get_logger("syncd.cycle")
SWITCHED_OFF = "switched off"  # `Outcome.reason` of a ticket skipped because its target is off
_STATUS = {401: "HTTP 401: the credentials were refused", 403: "HTTP 403: the credentials lack permission"}


def cause_of(exc: BaseException) -> str | None:
    """Why `exc` means the whole target is out of reach for this cycle, or None."""
    if not isinstance(exc, ServiceError):
        return None
    if exc.status in _STATUS:
        return _STATUS[exc.status]
    return exc.unreachable


class Breaker:
    """Targets switched off in this cycle, with the cause; shared by the cycle's threads."""

    def __init__(self) -> None:
        self._off: dict[str, str] = {}
        self._lock = threading.Lock()

    def off(self, connector: str) -> str | None:
        """The cause when `connector` is switched off, else None."""
        with self._lock:
            return self._off.get(connector)

    def observe(self, connector: str, exc: BaseException) -> None:
        """Switch `connector` off if `exc` says the whole target is out of reach."""
        cause = cause_of(exc)
        if cause is None:
            return
        with self._lock:
            first = connector not in self._off
            self._off.setdefault(connector, cause)
        if first:
            log.warning("target switched off for the rest of this cycle", connector=connector, cause=cause,
                        fix="syncd check-config --connect")
