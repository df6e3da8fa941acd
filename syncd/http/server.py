"""Run an ASGI app with uvicorn in a background thread: the daemon's listener (and the sandboxes').

The daemon's listener faces the internet, so it runs with `Limits` (the sandboxes, test doubles
on 127.0.0.1, run without):

- a read deadline per connection: a request's headers, and the rest of a body the app answered
  without reading (a 401 before the signature's body), must arrive within `read_timeout`, else
  the connection is closed. uvicorn has no header timeout of its own (its keep-alive timer only
  runs between requests and stops at the first byte), hence `_DeadlineH11`.
- at most `max_connections` connections in all (uvicorn's `limit_concurrency`: 503 beyond);
- at most `max_per_client` requests in flight per client address (`PerClientLimit`: 429 beyond).

A body the app does read is bounded by the app itself (`syncd.daemon.webhook.read_capped`: size cap
and deadline).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from syncd.http.answers import reject

MAX_HEAD_BYTES = 16 * 1024  # request line and headers; h11 answers 400 beyond (its default, made explicit)


class ServerStartError(Exception):
    """A listener could not start on `host:port`. `cause` is the OSError (port taken, address not
    local, port below 1024) or what stopped the server, so that the caller can name its config key.

    Kept here rather than in `syncd.errors`: `syncd.http` imports no other part of syncd.
    """

    def __init__(self, host: str, port: int, cause: BaseException | str):
        self.host, self.port, self.cause = host, port, cause
        reason = cause if isinstance(cause, str) else (getattr(cause, "strerror", None) or str(cause)
                                                      or type(cause).__name__)
        super().__init__(f"cannot listen on {host}:{port}: {reason}")


@dataclass(frozen=True)
class Limits:
    """What one client, and all of them together, may hold of the listener."""

    read_timeout: float = 10.0
    max_connections: int = 256
    max_per_client: int = 32


class ServerThread:
    """Serve `app` with uvicorn on `host:port` (port 0 picks a free one) in a daemon thread.

    `limits` None serves as before (the sandboxes); the daemon passes its `Limits`.
    """

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0, start_timeout: float = 10.0,
                 limits: Limits | None = None, name: str = "sandbox"):
        self.app = app
        self.name = name
        self.host = host
        self.port = port
        self.start_timeout = start_timeout
        self.limits = limits
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None  # why the serving thread ended before it started

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "ServerThread":
        """Bind, serve in the thread, return once listening; `ServerStartError` (with the cause) if not.

        The socket is bound here, in the caller's thread, so that a taken port or an address that
        is not local comes back as its own OSError instead of a line uvicorn logs and a bare exit.
        """
        sock = self._bind()
        self._failure = None
        self._server = uvicorn.Server(self._config())
        self._server.install_signal_handlers = lambda: None  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._run, args=(sock,), name=f"{self.name}-{self.port}",
                                        daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._server.should_exit = True
                sock.close()
                raise ServerStartError(self.host, self.port, self._failure or
                                       f"the server did not start within {self.start_timeout:g}s")
            time.sleep(0.01)
        return self

    def _bind(self) -> socket.socket:
        """A listening-ready socket on `host:port` (as uvicorn binds one: SO_REUSEADDR, inheritable)."""
        try:
            family, kind, proto, _, address = socket.getaddrinfo(
                self.host, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
            sock = socket.socket(family, kind, proto)
        except OSError as exc:  # a host name that does not resolve
            raise ServerStartError(self.host, self.port, exc) from None
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
        except OSError as exc:  # port taken, address not on this machine, port below 1024
            sock.close()
            raise ServerStartError(self.host, self.port, exc) from None
        sock.set_inheritable(True)
        self.port = sock.getsockname()[1]
        return sock

    def _config(self) -> uvicorn.Config:
        common: dict[str, Any] = {"host": self.host, "port": self.port, "log_level": "warning",
                                  "access_log": False, "lifespan": "off"}
        if self.limits is None:
            return uvicorn.Config(self.app, timeout_keep_alive=30, **common)
        lim = self.limits
        # h11 explicitly (not "auto"): the read deadline is built on its protocol class, and the
        # incomplete-event cap bounds what one connection's headers may buffer.
        return uvicorn.Config(PerClientLimit(self.app, lim.max_per_client),
                              http=_deadline_protocol(lim.read_timeout),
                              limit_concurrency=lim.max_connections, timeout_keep_alive=5,
                              h11_max_incomplete_event_size=MAX_HEAD_BYTES, **common)

    def _run(self, sock: socket.socket) -> None:
        assert self._server is not None
        try:
            asyncio.run(self._server.serve(sockets=[sock]))
        except BaseException as exc:  # uvicorn exits (SystemExit) on a failed start: keep why for start()
            self._failure = exc

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _DeadlineH11(H11Protocol):
    """uvicorn's h11 protocol with a read deadline per connection.

    Armed when the connection opens and again when a response completes; when it fires while
    no request is with the app (headers still trickling in, an unread body still draining, or
    an idle keep-alive), the connection is closed. A request the app is handling is left to the
    app, which reads its body under its own deadline.
    """

    read_timeout: float = 10.0
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        if not self.transport.is_closing():
            self._deadline = self.loop.call_later(self.read_timeout, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        with_app = self.cycle is not None and not self.cycle.response_complete
        if not with_app and not self.transport.is_closing():
            self.transport.close()


def _deadline_protocol(read_timeout: float) -> type[_DeadlineH11]:
    """A `_DeadlineH11` with this deadline (uvicorn builds protocols from a class)."""
    return type("DeadlineH11", (_DeadlineH11,), {"read_timeout": read_timeout})


class PerClientLimit:
    """ASGI middleware: at most `cap` requests in flight per client address; beyond, 429 at once.

    The address is uvicorn's `scope["client"]` (behind a proxy on the same host, the address the
    proxy forwarded). Counted on the event loop's thread only, so no lock.
    """

    def __init__(self, app: ASGIApp, cap: int):
        self.app = app
        self.cap = cap
        self._in_flight: dict[str, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = str((scope.get("client") or ("unknown",))[0])
        if self._in_flight.get(host, 0) >= self.cap:
            # Counted, not logged: a flood must not become a flood of log lines.
            answer = reject(429, "TOO_MANY_REQUESTS", "too many requests in flight from this address",
                            "client_cap")
            answer.headers["Retry-After"] = "1"
            await answer(scope, receive, send)
            return
        self._in_flight[host] = self._in_flight.get(host, 0) + 1
        try:
            await self.app(scope, receive, send)
        finally:
            left = self._in_flight.pop(host) - 1
            if left:
                self._in_flight[host] = left
