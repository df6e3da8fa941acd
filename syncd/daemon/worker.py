"""Drain the inbox: claim a ticket's events, reconcile the ticket fresh from Cogny, mark them done.

A webhook event is a hint that a ticket changed; the worker never trusts the payload's copy of
the ticket. Failures go back to the inbox with backoff (and end `dead` after max attempts).

Bursts are coalesced: a thread claims the due events of up to `batch` tickets at once and, when
it got several, hands them to `prepare` together first (the daemon creates the new tickets'
records there in bulk, as a poll does for a listing page); then every claim is processed on its
own as before, by whichever worker thread is free (the claims wait in an in-process queue).
Events stored since the last claim are claimed (and prepared) before the queue is worked on, so
a burst's later events get their records without waiting for the earlier ones' write-backs.
After `prepare`, a worker keeps only what its threads will start soon (`KEEP_PER_THREAD` each)
and hands the rest back to the inbox at once: other replicas on the same store take them, instead
of waiting while one replica holds a whole page of claims.
"""

from __future__ import annotations

import threading
import uuid
from collections import deque
from typing import Callable

import structlog

from syncd.redact import redact
from syncd.store.inbox import Claim, Inbox

log = structlog.get_logger("syncd.worker")
Handler = Callable[[Claim], "str | None"]  # None: done; IGNORED: the handler settled it; else the error text
IGNORED = "\x00ignored"
KEEP_PER_THREAD = 4  # claims a worker keeps per thread after a batch; the rest go back to the inbox
Prepare = Callable[[list[Claim]], None]  # several claims at once, before each is handled alone


class Worker:
    def __init__(self, inbox: Inbox, handler: Handler, *, threads: int = 2, poll_seconds: float = 1.0,
                 name: str | None = None, batch: int = 1, prepare: Prepare | None = None):
        self.inbox = inbox
        self.handler = handler
        self.threads = threads
        self.poll_seconds = poll_seconds
        self.name = name or f"worker-{uuid.uuid4().hex[:8]}"
        self.batch = max(1, batch)
        self.prepare = prepare
        self._wake = threading.Event()
        self._fresh = threading.Event()  # events were stored since the last claim
        self._stop = threading.Event()
        self._pool: list[threading.Thread] = []
        self._in_flight: dict[int, Claim] = {}
        self._queue: deque[Claim] = deque()  # claimed by this worker, not started yet
        self._lock = threading.Lock()

    def start(self) -> None:
        for i in range(self.threads):
            thread = threading.Thread(target=self._loop, name=f"{self.name}-{i}", daemon=True)
            thread.start()
            self._pool.append(thread)

    def wake(self) -> None:
        """New events were stored: look now instead of at the next poll."""
        self._fresh.set()
        self._wake.set()

    def stop(self, timeout: float = 8.0) -> None:
        """Finish in-flight work (up to `timeout`), then hand back whatever is still claimed."""
        self._stop.set()
        self._wake.set()
        per_thread = timeout / max(1, len(self._pool))
        for thread in self._pool:
            thread.join(timeout=per_thread)
        with self._lock:
            leftover = [i for claim in (*self._in_flight.values(), *self._queue) for i in claim.ids]
            self._queue.clear()
        if leftover:
            self.inbox.release(leftover)
            log.warning("released unfinished events at shutdown", count=len(leftover))

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                claim = self._next()
            except Exception as exc:  # store unreachable: wait and try again, never die
                log.error("claiming events failed", error=redact(str(exc)))
                claim = None
            if claim is None:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()
                continue
            try:
                self._process(claim)
            except Exception as exc:  # e.g. the store went away while recording the outcome:
                # keep the thread alive; the claim's lease runs out and the events come back
                log.error("recording an event outcome failed", error=redact(str(exc)))
                self._stop.wait(self.poll_seconds)

    def _next(self) -> Claim | None:
        """The next claim to process: new events are claimed (and prepared) first, then the queue."""
        with self._lock:
            look = self._fresh.is_set() or not self._queue
            self._fresh.clear()
        if look:
            self._claim()
        with self._lock:
            if not self._queue:
                return None
            claim = self._queue.popleft()
            self._in_flight[id(claim)] = claim
            return claim

    def _claim(self) -> None:
        """Claim up to `batch` tickets' due events, prepare them together if several, queue them."""
        claims = self.inbox.claim(self.name, limit=self.batch)
        if not claims:
            return
        with self._lock:  # in flight while prepared: released at shutdown if never started
            for claim in claims:
                self._in_flight[id(claim)] = claim
        try:
            if len(claims) > 1 and self.prepare is not None:
                self.prepare(claims)
        except Exception as exc:  # each claim is still processed on its own, as without it
            log.warning("preparing a batch of events failed; processing them one by one",
                        count=len(claims), error=redact(str(exc)))
        finally:
            keep = claims[:self.threads * KEEP_PER_THREAD]
            with self._lock:
                for claim in claims:
                    self._in_flight.pop(id(claim), None)
                self._queue.extend(keep)
        back = [i for claim in claims[len(keep):] for i in claim.ids]
        if back:  # prepared (their records exist): any worker of any replica may take them now
            self.inbox.release(back)
        if len(claims) > 1:
            self._wake.set()  # the other threads help with the queue

    def _process(self, claim: Claim) -> None:
        key = id(claim)
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
