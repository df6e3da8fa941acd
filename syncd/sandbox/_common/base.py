"""What every sandbox shares: a request log the tests can read, and fault knobs.

Each sandbox is a Starlette app wrapped by `Recorder`, which notes every request
(method, path, query, body, status, and whether it was a write) in a `RequestLog`.
Tests assert on that log, e.g. "the second run made zero write calls".
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Self

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from syncd.http.server import ServerThread

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    status: int = 0
    write: bool = False

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class RequestLog:
    """Thread-safe list of the requests a sandbox served."""

    def __init__(self) -> None:
        self._items: list[Recorded] = []
        self._lock = threading.Lock()

    def add(self, item: Recorded) -> None:
        with self._lock:
            self._items.append(item)

    def all(self) -> list[Recorded]:
        with self._lock:
            return list(self._items)

    def writes(self) -> list[Recorded]:
        """Requests that changed (or tried to change) sandbox state."""
        return [r for r in self.all() if r.write]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


FATES = ("fail", "drop", "error", "throttle", "slow")


@dataclass
class Faults:
    """Seeded fault injection: shares of 5xx, 429, slow and dropped answers, or a fate for the next N.

    Each request draws one number from a seeded generator and gets at most one fate, in this
    order: `error` (HTTP 500), `throttle` (429 with `Retry-After: retry_after`), `slow` (served
    after `slow_seconds`, so a client with a shorter timeout gives up while the change still
    happens), `drop` (the connection is closed without any answer). `fail_next` / `drop_next`
    force the fate of the next N requests (before any roll). With `drop_after_apply` a dropped
    request is served first and only its answer is lost — the write happened, the client cannot
    know. `path_suffix` limits every fate to requests whose path ends with it (e.g. `/issue/bulk`).
    `injected` counts the fates dealt, so a test can prove the chaos really happened.
    Change knobs while a sandbox serves with `set(...)` (reseeds when given `seed`) and `clear()`.
    """

    error_rate: float = 0.0
    throttle_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 5.0
    retry_after: int = 1
    fail_next: int = 0
    fail_status: int = 500
    seed: int = 0
    drop_rate: float = 0.0
    drop_next: int = 0
    drop_after_apply: bool = False
    path_suffix: str = ""
    injected: Counter[str] = field(default_factory=Counter, repr=False)
    _rng: random.Random = field(default_factory=random.Random, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._rng.seed(self.seed)

    def set(self, **knobs: Any) -> "Faults":
        """Change several knobs at once (e.g. `sb.faults.set(error_rate=0.2, seed=7)`)."""
        with self._lock:
            for name, value in knobs.items():
                if name.startswith("_") or name == "injected" or not hasattr(self, name):
                    raise AttributeError(f"Faults has no knob {name!r}")
                setattr(self, name, value)
            if "seed" in knobs:
                self._rng.seed(self.seed)
        return self

    def clear(self) -> "Faults":
        """No more faults from now on (the counts of those injected so far are kept)."""
        return self.set(error_rate=0.0, throttle_rate=0.0, slow_rate=0.0, drop_rate=0.0, fail_next=0,
                        drop_next=0, path_suffix="")

    def pick(self, path: str = "") -> str | None:
        """Decide this request's fate: None (serve it), 'fail', 'drop', 'error', 'throttle' or 'slow'."""
        if not path.endswith(self.path_suffix):
            return None
        fate = self._pick()
        if fate is not None:
            with self._lock:
                self.injected[fate] += 1
        return fate

    def _pick(self) -> str | None:
        with self._lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return "fail"
            if self.drop_next > 0:
                self.drop_next -= 1
                return "drop"
            roll = self._rng.random()
        if roll < self.error_rate:
            return "error"
        roll -= self.error_rate
        if roll < self.throttle_rate:
            return "throttle"
        roll -= self.throttle_rate
        if roll < self.slow_rate:
            return "slow"
        roll -= self.slow_rate
        if roll < self.drop_rate:
            return "drop"
        return None


class Recorder:
    """ASGI middleware: inject faults, then serve and record the request in `log`.

    A handler may set `request.state.write = False` for a POST that only reads (GraphQL queries).
    A dropped request is logged with status 0.
    """

    def __init__(self, app: ASGIApp, log: RequestLog, faults: Faults) -> None:
        self.app = app
        self.log = log
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        method = scope["method"]
        item = Recorded(method, scope["path"], scope.get("query_string", b"").decode(), headers, body,
                        write=method in WRITE_METHODS)
        scope.setdefault("state", {})

        fate = self.faults.pick(scope["path"])
        if fate in ("error", "fail"):
            response: Response = JSONResponse({"error": "injected fault"}, status_code=self.faults.fail_status
                                              if fate == "fail" else 500)
            item.status = response.status_code
            item.write = False
            self.log.add(item)
            await response(scope, _replay(b""), send)
            return
        if fate == "throttle":
            response = JSONResponse({"error": "rate limited (injected)"}, status_code=429,
                                    headers={"Retry-After": str(self.faults.retry_after)})
            item.status, item.write = 429, False
            self.log.add(item)
            await response(scope, _replay(b""), send)
            return
        if fate == "drop":
            if self.faults.drop_after_apply:  # serve it (state changes), then lose the answer
                async def swallow(message: Message) -> None:
                    if message["type"] == "http.response.start":
                        item.status = message["status"]

                try:
                    await self.app(scope, _replay(body), swallow)
                finally:
                    state = scope.get("state") or {}
                    if "write" in state:
                        item.write = bool(state["write"])
            else:
                item.write = False
            self.log.add(Recorded(item.method, item.path, item.query, item.headers, item.body, 0, item.write))
            _drop_connection(receive)
            return
        if fate == "slow":
            await asyncio.sleep(self.faults.slow_seconds)

        logged = False

        def record() -> None:
            nonlocal logged
            if not logged:
                state = scope.get("state") or {}
                if "write" in state:
                    item.write = bool(state["write"])
                self.log.add(item)
                logged = True

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                item.status = message["status"]
                record()  # before the client can see the answer, so tests never race the log
            await send(message)

        try:
            await self.app(scope, _replay(body), send_wrapper)
        finally:
            record()


def _drop_connection(receive: Receive) -> None:
    """Close the client's connection without sending a byte of an answer.

    ASGI has no message for this, so reach the transport through uvicorn's request cycle (the
    bound `receive`); marking the cycle disconnected keeps uvicorn from answering 500 for us.
    Under another server the fallback is an exception (which such a server turns into a 500).
    """
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise ConnectionAbortedError("injected fault: drop the connection")
    cycle.disconnected = True  # type: ignore[union-attr]
    transport.close()


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    return receive


def mark_read_only(request: Request) -> None:
    """Tell the recorder this (POST) request was a read, e.g. a GraphQL query."""
    request.scope.setdefault("state", {})["write"] = False


class Sandbox:
    """Base of every sandbox: a Starlette app with a request log, fault knobs and a server thread.

    Subclasses implement `routes()` and keep their state as plain attributes guarded by
    `self.lock`. Tests use `with XSandbox() as sb: ... sb.url ... sb.log.writes()`.
    """

    name = "sandbox"

    def __init__(self) -> None:
        self.log = RequestLog()
        self.faults = Faults()
        self.lock = threading.RLock()
        self._server: ServerThread | None = None

    def routes(self) -> list[Any]:
        raise NotImplementedError

    def build_app(self) -> ASGIApp:
        return Recorder(Starlette(routes=self.routes()), self.log, self.faults)

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Self:
        self._server = ServerThread(self.build_app(), host=host, port=port).start()
        return self

    @property
    def running(self) -> bool:
        """Whether the server is up (`url` answers only then)."""
        return self._server is not None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{self.name} sandbox is not running")
        return self._server.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
