"""Drain the inbox: claim a ticket's events, reconcile the ticket fresh from Cogny, mark them done.

A webhook event is a hint that a ticket changed; the worker never trusts the payload's copy of
the ticket. Failures go back to the inbox with backoff (and end `dead` after max attempts).
"""

from __future__ import annotations

import threading
import uuid
from typing import Callable

import structlog

from syncd.redact import redact
from syncd.store.inbox import Claim, Inbox

log = structlog.get_logger("syncd.worker")
Handler = Callable[[Claim], "str | None"]  # None: done; IGNORED: the handler settled it; else the error text
IGNORED = "\x00ignored"


class Worker:
    def __init__(self, inbox: Inbox, handler: Handler, *, threads: int = 2, poll_seconds: float = 1.0,
                 name: str | None = None):
        self.inbox = inbox
        self.handler = handler
        self.threads = threads
        self.poll_seconds = poll_seconds
        self.name = name or f"worker-{uuid.uuid4().hex[:8]}"
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pool: list[threading.Thread] = []
        self._in_flight: dict[int, Claim] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        for i in range(self.threads):
            thread = threading.Thread(target=self._loop, name=f"{self.name}-{i}", daemon=True)
            thread.start()
            self._pool.append(thread)

    def wake(self) -> None:
        """New events were stored: look now instead of at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 8.0) -> None:
        """Finish in-flight work (up to `timeout`), then hand back whatever is still claimed."""
        self._stop.set()
        self._wake.set()
        per_thread = timeout / max(1, len(self._pool))
        for thread in self._pool:
            thread.join(timeout=per_thread)
        with self._lock:
            leftover = [i for claim in self._in_flight.values() for i in claim.ids]
        if leftover:
            self.inbox.release(leftover)
            log.warning("released unfinished events at shutdown", count=len(leftover))

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                claims = self.inbox.claim(self.name, limit=1)
            except Exception as exc:  # store unreachable: wait and try again, never die
                log.error("claiming events failed", error=redact(str(exc)))
                claims = []
            if not claims:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()
                continue
            for claim in claims:
                try:
                    self._process(claim)
                except Exception as exc:  # e.g. the store went away while recording the outcome:
                    # keep the thread alive; the claim's lease runs out and the events come back
                    log.error("recording an event outcome failed", error=redact(str(exc)))
                    self._stop.wait(self.poll_seconds)

    def _process(self, claim: Claim) -> None:
        key = id(claim)
        with self._lock:
            self._in_flight[key] = claim
        try:
            with structlog.contextvars.bound_contextvars(ticket_id=claim.ticket_id,
                                                         event_id=claim.events[0].event_id):
                try:
                    error = self.handler(claim)
                except Exception as exc:
                    error = f"{type(exc).__name__}: {redact(str(exc))}"
                if error == IGNORED:
                    log.info("events ignored", count=len(claim.ids))
                elif error is None:
                    self.inbox.done(claim.ids)
                    log.info("events processed", count=len(claim.ids))
                else:
                    state = self.inbox.fail(claim, error)
                    log.warning("event processing failed", state=state, error=error)
        finally:
            with self._lock:
                self._in_flight.pop(key, None)
