"""A webhook endpoint on 127.0.0.1 that records what it gets and answers with scripted statuses."""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncd.http.server import ServerThread


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """Records every POST (any path); answers `statuses` in turn, then 200.

    With `echo` it answers Asana's handshake by echoing X-Hook-Secret, as a receiver must; with a
    `gate` each request waits (at most 5 s) until the gate is set, like a slow receiver.
    """

    def __init__(self, *, echo: bool = True, statuses: list[int] | None = None,
                 gate: threading.Event | None = None) -> None:
        self.echo, self.gate = echo, gate
        self.statuses = list(statuses or [])
        self.received: list[Received] = []
        self._server = ServerThread(Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST"])]))

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        if self.gate is not None:
            await asyncio.to_thread(self.gate.wait, 5)
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.received.append(Received(request.url.path, headers, body))
        answer = {}
        if self.echo and "x-hook-secret" in request.headers:
            answer["X-Hook-Secret"] = request.headers["x-hook-secret"]
        return Response(status_code=self.statuses.pop(0) if self.statuses else 200, headers=answer)

    def start(self) -> "Receiver":
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> "Receiver":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self._server.url

    def deliveries(self) -> list[Received]:
        """Received requests that are not handshakes."""
        return [r for r in self.received if "x-hook-secret" not in r.headers]
