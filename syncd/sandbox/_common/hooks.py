"""Outbound webhooks for the sandboxes: a registry of targets and a delivery thread.

Real JIRA, Linear and Asana push changes to a URL; the sandboxes do the same so the daemon's
receiver can be tested end to end. A sandbox registers targets (`add`) with a `render`
function that turns one event payload into the exact bytes and headers that vendor sends
(signature included), and calls `emit` while it holds its own lock. `emit` only queues: a
background thread posts, so a sandbox request never waits on (or deadlocks with) the receiver.

Deliveries are posted one at a time, in order, with bounded retries (a non-2xx answer or a
connection error is retried after a short backoff, as the vendors retry). Every attempt is kept
in `deliveries()` so tests can assert on status codes, bodies and headers; `flush(timeout)`
waits until the queue is drained, so a test never sleeps blindly. Everything stays on
127.0.0.1: the client ignores proxy settings from the environment.

`hmac_hex` is the one signing primitive the vendors share (hex HMAC-SHA256 of the raw body). It is
the sandboxes' own, not `syncd.signatures`: the stand-ins sign as the vendors do, independently of
the code in syncd that checks those signatures, so a mistake there cannot hide in both.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import httpx

# render(hook, payload, delivery) -> (body, headers): the vendor's wire format for one attempt.
Render = Callable[["Hook", Any, "Delivery"], "tuple[bytes, dict[str, str]]"]


def hmac_hex(secret: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of the raw body keyed by `secret`: how Asana, JIRA, Linear and Cogny sign."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class Hook:
    """One registered target: where to post, the signing secret, and which events it wants."""

    id: str
    url: str
    render: Render
    secret: str | None = None
    events: frozenset[str] | None = None  # None: every event
    data: dict[str, Any] = field(default_factory=dict)  # vendor extras (Asana resource, filters, ...)
    active: bool = True

    def wants(self, event: str) -> bool:
        return self.active and (self.events is None or event in self.events)


@dataclass
class Delivery:
    """One event delivered (or not) to one hook; `statuses` has one entry per attempt (0: no answer)."""

    id: str
    hook_id: str
    url: str
    event: str
    payload: Any
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    statuses: list[int] = field(default_factory=list)
    ok: bool = False
    done: bool = False

    @property
    def attempts(self) -> int:
        return len(self.statuses)

    @property
    def status(self) -> int | None:
        return self.statuses[-1] if self.statuses else None

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class HookDispatcher:
    """The outbound webhooks of one sandbox (thread-safe)."""

    def __init__(self, *, attempts: int = 3, backoff: float = 0.05, timeout: float = 5.0) -> None:
        self.attempts = attempts
        self.backoff = backoff
        self.timeout = timeout
        self._hooks: dict[str, Hook] = {}
        self._log: list[Delivery] = []
        self._queue: "queue.Queue[Delivery | None]" = queue.Queue()
        self._pending = 0
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._ids = itertools.count(1)

    # -- registry ---------------------------------------------------------------------------
    def add(self, url: str, render: Render, *, secret: str | None = None, events: Iterable[str] | None = None,
            hook_id: str | None = None, **data: Any) -> Hook:
        hook = Hook(hook_id or str(next(self._ids)), url, render, secret,
                    frozenset(events) if events is not None else None, dict(data))
        with self._cond:
            self._hooks[hook.id] = hook
        return hook

    def remove(self, hook_id: str) -> bool:
        with self._cond:
            return self._hooks.pop(hook_id, None) is not None

    def get(self, hook_id: str) -> Hook | None:
        with self._cond:
            return self._hooks.get(hook_id)

    def hooks(self) -> list[Hook]:
        with self._cond:
            return list(self._hooks.values())

    # -- delivering ---------------------------------------------------------------------------
    def emit(self, event: str, payload: Any, *, only: Callable[[Hook], bool] | None = None) -> list[Delivery]:
        """Queue `payload` (copied now, so later changes do not leak in) for every hook that wants `event`."""
        queued = []
        for hook in self.hooks():
            if hook.wants(event) and (only is None or only(hook)):
                queued.append(self._enqueue(Delivery(str(uuid.uuid4()), hook.id, hook.url, event,
                                                     copy.deepcopy(payload))))
        return queued

    def _enqueue(self, delivery: Delivery) -> Delivery:
        with self._cond:
            if self._stopped:
                return delivery
            self._log.append(delivery)
            self._pending += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sandbox-hooks", daemon=True)
                self._thread.start()
        self._queue.put(delivery)
        return delivery

    def post_now(self, url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        """One synchronous POST (Asana's handshake happens inside the request that creates a webhook)."""
        with httpx.Client(timeout=self.timeout, trust_env=False) as client:
            return client.post(url, content=body, headers=headers)

    def _run(self) -> None:
        with httpx.Client(timeout=self.timeout, trust_env=False) as client:
            while True:
                delivery = self._queue.get()
                if delivery is None:
                    return
                try:
                    self._deliver(client, delivery)
                finally:
                    with self._cond:
                        delivery.done = True
                        self._pending -= 1
                        self._cond.notify_all()

    def _deliver(self, client: httpx.Client, delivery: Delivery) -> None:
        for attempt in range(self.attempts):
            hook = self.get(delivery.hook_id)
            if hook is None or self._stopped:
                return  # unregistered (or the sandbox stopped) while queued: the vendor drops it too
            delivery.body, delivery.headers = hook.render(hook, delivery.payload, delivery)
            try:
                status = client.post(hook.url, content=delivery.body, headers=delivery.headers).status_code
            except httpx.HTTPError:
                status = 0
            delivery.statuses.append(status)
            if 200 <= status < 300:
                delivery.ok = True
                return
            if attempt + 1 < self.attempts:
                time.sleep(self.backoff * (2 ** attempt))

    # -- for tests --------------------------------------------------------------------------
    def deliveries(self, hook_id: str | None = None, event: str | None = None) -> list[Delivery]:
        """Deliveries so far (oldest first), optionally for one hook or one event name."""
        with self._cond:
            return [d for d in self._log if hook_id in (None, d.hook_id) and event in (None, d.event)]

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued delivery is finished (delivered or given up); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def clear(self) -> None:
        """Forget the delivery log (registered hooks stay)."""
        with self._cond:
            self._log = [d for d in self._log if not d.done]

    def stop(self, timeout: float = 5.0) -> None:
        """Drop what is still queued and end the delivery thread (called when the sandbox stops)."""
        with self._cond:
            self._stopped = True
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)
