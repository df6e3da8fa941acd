"""Cogny's webhooks: the ticket events it fires, and the sender that delivers them signed.

Each delivery is the event as compact JSON with `X-Cogny-Signature` (hex HMAC-SHA256 of the body
keyed by the subscription's secret), posted from one background thread so a slow receiver never
stalls the API, retried a few times (a non-2xx answer or no answer), and then kept in
`deliveries` for tests to read. Which subscriptions get which event is the state's business.
"""

from __future__ import annotations

import json
import queue
import threading
from typing import Any

import httpx

from syncd.sandbox._common.hooks import hmac_hex

TICKET_EVENTS = ("ticket.created", "ticket.updated", "ticket.status_changed", "ticket.completed",
                 "ticket.dismissed")
# Documented in the overview; accepted in subscriptions but never fired by this sandbox.
OTHER_EVENTS = ("report.completed", "report.failed", "warehouse.connected", "warehouse.sync_completed")


class Deliverer:
    """Webhook sender: one daemon thread draining a queue, retrying each delivery a few times."""

    def __init__(self, retries: int = 3, delay: float = 0.05, timeout: float = 2.0) -> None:
        self.retries, self.delay, self.timeout = retries, delay, timeout
        self.deliveries: list[dict[str, Any]] = []
        self._queue: queue.Queue[tuple[str, bytes, str, dict[str, Any]] | None] = queue.Queue()
        self._done = threading.Condition()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="cogny-webhooks", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop promptly: pending deliveries are dropped, as when a real sender restarts."""
        self._stopping.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def submit(self, url: str, secret: str, event: dict[str, Any]) -> None:
        """Queue one signed delivery; never blocks (the caller may be an HTTP handler)."""
        body = json.dumps(event, separators=(",", ":")).encode()
        signature = hmac_hex(secret, body)
        self._queue.put((url, body, signature, event))

    def wait(self, n: int, timeout: float) -> list[dict[str, Any]]:
        with self._done:
            self._done.wait_for(lambda: len(self.deliveries) >= n, timeout=timeout)
            return list(self.deliveries)

    def _run(self) -> None:
        with httpx.Client(timeout=self.timeout) as client:
            while True:
                job = self._queue.get()
                if self._stopping.is_set():
                    return
                if job is not None:  # None only wakes the thread up to see the stop flag
                    self._deliver(client, *job)

    def _deliver(self, client: httpx.Client, url: str, body: bytes, signature: str,
                 event: dict[str, Any]) -> None:
        headers = {"Content-Type": "application/json", "X-Cogny-Signature": signature}
        status: int | None = None
        attempts = 0
        for attempts in range(1, self.retries + 2):
            try:
                status = client.post(url, content=body, headers=headers).status_code
            except httpx.HTTPError:
                status = None
            if status is not None and 200 <= status < 300:
                break
            if attempts > self.retries or self._stopping.wait(self.delay * attempts):
                break
        with self._done:
            self.deliveries.append({"event": event["type"], "event_id": event["id"], "url": url,
                                    "status": status, "attempts": attempts, "payload": event})
            self._done.notify_all()
