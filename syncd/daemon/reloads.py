"""Reloads one at a time: `Coalesced` runs work in one thread; requests made meanwhile share one follow-up."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Callable, Generic, TypeVar

import structlog

from syncd.redact import redact

log = structlog.get_logger("syncd.daemon")
T = TypeVar("T")


class Coalesced(Generic[T]):
    """Runs `work` at most once at a time, in one thread; requests made while it runs share one follow-up.

    A request's future settles with the result of a run that started after the request, so a
    caller that edited the config file and then asked for a reload always sees it applied; a
    burst of a hundred requests costs two runs and one thread.
    """

    def __init__(self, work: Callable[[], T], name: str):
        self._work, self._name = work, name
        self._lock = threading.Lock()
        self._next: Future[T] | None = None  # shared by every request waiting for the next run
        self._running = False

    def request(self) -> Future[T]:
        with self._lock:
            if self._next is None:
                self._next = Future()
            future = self._next
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name=self._name, daemon=True).start()
        return future

    def _run(self) -> None:
        while True:
            with self._lock:
                future, self._next = self._next, None
                if future is None:
                    self._running = False
                    return
            try:
                future.set_result(self._work())
            except Exception as exc:  # the callers get it (SIGHUP has none: logged); the runner goes on
                log.error(f"{self._name} failed", error=redact(f"{type(exc).__name__}: {exc}"))
                future.set_exception(exc)
