"""The webhook receiver, health and metrics endpoints: a small Starlette app.

    POST {webhook.path}  verify signature → store event (committed) → 202
    POST /webhooks/<connector>  a target's own webhook, for sync-back (syncd.inbound)
    GET  /healthz        the process is up
    GET  /readyz         store reachable and migrated, scheduler running
    GET  /metrics        Prometheus text format
    POST /-/reload       reload the config (loopback clients only)

An event is acknowledged only after it is committed to the inbox (docs/design.md invariant 2).
Commits are grouped: a writer thread stores whatever arrived meanwhile in one transaction,
so a burst of deliveries costs a few commits, not one each.
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import uuid
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Sequence

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from syncd import metrics
from syncd.inbox import Inbox, NewEvent
from syncd.signatures import verify_cogny, verify_standard

log = structlog.get_logger("syncd.webhook")
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class IngestWriter:
    """Group-commits events to the inbox from one thread; callers await their own result."""

    def __init__(self, inbox: Inbox, on_stored: Callable[[], None] = lambda: None, batch: int = 512):
        self.inbox = inbox
        self.on_stored = on_stored
        self.batch = batch
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="ingest", daemon=True)
        self._thread.start()

    async def store(self, item: NewEvent) -> bool:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._queue.put((item, loop, future))
        return await future

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            work = [first]
            while len(work) < self.batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                work.append(nxt)
            try:
                results: list[Any] = self.inbox.add_many([w[0] for w in work])
                error = None
            except Exception as exc:  # answered 503: the sender keeps the event and retries
                log.error("storing webhook events failed", error=str(exc), count=len(work))
                results, error = [None] * len(work), exc
            for (_, loop, future), result in zip(work, results):
                loop.call_soon_threadsafe(_settle, future, result, error)
            if error is None and any(new and item.state == "pending" for (item, _, _), new in zip(work, results)):
                self.on_stored()  # only work worth waking for: ignored events need none


def _settle(future: asyncio.Future[bool], result: bool, error: Exception | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def envelope_error(status: int, code: str, message: str, **details: Any) -> JSONResponse:
    """Errors in Cogny's envelope style, so senders see a familiar shape."""
    return JSONResponse({"success": False, "error": {"code": code, "message": message, "details": details},
                         "meta": {"timestamp": datetime.now(timezone.utc).isoformat(),
                                  "request_id": f"req_{uuid.uuid4().hex[:12]}"}}, status_code=status)


class Receiver:
    """What the receiver needs from the daemon, swappable on reload."""

    def __init__(self, *, writer: IngestWriter, inbox: Inbox, secrets: Callable[[], Sequence[str]],
                 path: str = "/webhooks/cogny", max_body: int = 1024 * 1024, tolerance: int = 300,
                 ready: Callable[[], tuple[bool, dict[str, Any]]] = lambda: (True, {}),
                 reload: Callable[[], tuple[bool, list[str]]] | None = None,
                 targets: Callable[[Request], Awaitable[Response]] | None = None):
        self.writer, self.inbox, self.secrets = writer, inbox, secrets
        self.path, self.max_body, self.tolerance = path, max_body, tolerance
        self.ready, self.reload, self.targets = ready, reload, targets

    def app(self) -> Starlette:
        # The Cogny path comes first: a connector can never shadow it.
        target_routes = [Route("/webhooks/{connector}", self.targets, methods=["POST"])] if self.targets else []
        return Starlette(routes=[
            Route(self.path, self.receive, methods=["POST"]),
            *target_routes,
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
            Route("/metrics", self.metrics, methods=["GET"]),
            Route("/-/reload", self.reload_config, methods=["POST"]),
        ])

    async def receive(self, request: Request) -> Response:
        body = await self._read_capped(request)
        if body is None:
            return self._reject(413, "PAYLOAD_TOO_LARGE", f"body over {self.max_body} bytes", "too_large")
        if not self._signed(body, request):
            return self._reject(401, "INVALID_SIGNATURE", "missing or invalid webhook signature", "signature")
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser allows
            return self._reject(400, "INVALID_JSON", "body is not valid JSON", "json")
        problem = _shape_problem(payload)
        if problem:
            return self._reject(400, "INVALID_EVENT", problem, "shape")
        event_type = payload["type"]
        data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
        ticket_id = data.get("ticket_id") if isinstance(data.get("ticket_id"), str) else None
        relevant = event_type.startswith("ticket.") and ticket_id is not None
        item = NewEvent(str(payload["id"]), event_type, ticket_id, body.decode("utf-8", "replace"),
                        state="pending" if relevant else "ignored")
        try:
            new = await self.writer.store(item)
        except Exception:
            return self._reject(503, "UNAVAILABLE", "event could not be stored; retry later", "store")
        metrics.events_received.labels(event_type if relevant else "ignored").inc()
        return JSONResponse({"success": True, "data": {"id": item.event_id, "duplicate": not new,
                                                        "state": item.state}}, status_code=202)

    async def _read_capped(self, request: Request) -> bytes | None:
        return await read_capped(request, self.max_body)

    def _signed(self, body: bytes, request: Request) -> bool:
        secrets = list(self.secrets())
        if not secrets:
            return False  # no secret configured: accept nothing rather than everything
        header = request.headers.get("x-cogny-signature")
        if header:
            return verify_cogny(body, header, secrets)
        return verify_standard(body, request.headers, secrets, self.tolerance)

    def _reject(self, status: int, code: str, message: str, reason: str) -> JSONResponse:
        return reject(status, code, message, reason)

    async def healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(self, request: Request) -> Response:
        ok, detail = await asyncio.to_thread(self.ready)
        return JSONResponse({"ready": ok, **detail}, status_code=200 if ok else 503)

    async def metrics(self, request: Request) -> Response:
        counts = await asyncio.to_thread(self.inbox.counts)
        for state in ("pending", "running", "done", "dead", "ignored"):
            metrics.inbox_depth.labels(state).set(counts.get(state, 0))
        return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)

    async def reload_config(self, request: Request) -> Response:
        client = request.client.host if request.client else ""
        if client not in LOOPBACK:
            return envelope_error(403, "FORBIDDEN", "reload is only accepted from the loopback interface")
        if self.reload is None:
            return envelope_error(404, "NOT_FOUND", "reload is not available")
        ok, problems = await asyncio.to_thread(self.reload)
        if ok:
            return JSONResponse({"success": True, "data": {"reloaded": True}})
        return envelope_error(400, "INVALID_CONFIG", "new config rejected; the old one keeps running",
                              problems=problems)


async def read_capped(request: Request, max_body: int) -> bytes | None:
    """The body, or None as soon as it is known to exceed `max_body` (never buffered past it)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_body:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def reject(status: int, code: str, message: str, reason: str) -> JSONResponse:
    metrics.events_rejected.labels(reason).inc()
    return envelope_error(status, code, message)


def _shape_problem(payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return "event must be a JSON object"
    if not isinstance(payload.get("id"), str) or not payload["id"]:
        return "event `id` missing or not a string"
    if not isinstance(payload.get("type"), str) or not payload["type"]:
        return "event `type` missing or not a string"
    if len(payload["id"]) > 255:
        return "event `id` longer than 255 characters"
    return None
