"""Run an ASGI app on 127.0.0.1 in a background thread.

The sandboxes and the daemon's own tests use this: a real socket, a real HTTP stack, and a
`with` block that guarantees the server is gone afterwards.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import uvicorn


class ServerThread:
    """Serve `app` with uvicorn on `host:port` (port 0 picks a free one) in a daemon thread."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, start_timeout: float = 10.0):
        self.app = app
        self.host = host
        self.port = port
        self.start_timeout = start_timeout
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "ServerThread":
        config = uvicorn.Config(
            self.app, host=self.host, port=self.port, log_level="warning",
            access_log=False, lifespan="off", timeout_keep_alive=30,
        )
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self._thread = threading.Thread(target=self._run, name=f"sandbox-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on {self.host}:{self.port} did not start")
            time.sleep(0.01)
        sock = self._server.servers[0].sockets[0]
        self.port = sock.getsockname()[1]
        return self

    def _run(self) -> None:
        assert self._server is not None
        asyncio.run(self._server.serve())

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
