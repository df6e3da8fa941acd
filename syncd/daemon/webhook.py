"""The webhook receiver, health and metrics endpoints: a small Starlette app.

    POST {webhook.path}  verify signature → store event (committed) → 202
    POST /webhooks/<connector>  a target's own webhook, for sync-back (syncd.daemon.inbound)
    GET  /healthz        the process is up
    GET  /readyz         store reachable and migrated, scheduler running

and, on the admin listener only (`admin.host:admin.port`, with the console; `admin_routes`):

    GET  /metrics        Prometheus text format
    POST /-/reload       reload the config (admin: loopback and the admin.auth credentials)
    POST /-/webhooks/<connector>  have syncd create a target's webhook (admin; Asana's handshake)

Without a Cogny secret (`webhook.secret` unset) the Cogny receiver is off: 404, saying so.
Every refused delivery is counted (`syncd_webhook_events_rejected_total{reason}`) and logged, at
most one line per reason every 10 s.

An event is acknowledged only after it is committed to the inbox (docs/design.md invariant 2).
Commits are grouped: a writer thread stores whatever arrived meanwhile in one transaction,
so a burst of deliveries costs a few commits, not one each.

Nothing is read from a body before its headers say it may be worth reading: a declared size over
the cap is 413, a missing or malformed signature header 401, both without reading the body; a
body that is read must arrive within `read_timeout` (408 otherwise).
"""

from __future__ import annotations

import asyncio
import json
import queue
import re
import threading
import time
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Sequence

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from syncd import metrics
from syncd.errors import SlowBody
from syncd.http.answers import envelope_error, reject
from syncd.signatures import verify_cogny, verify_standard
from syncd.store.inbox import Inbox, NewEvent
from syncd.store.schema import EVENT_STATES

log = structlog.get_logger("syncd.webhook")
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_HEX64 = re.compile(r"(?i)(sha256=)?[0-9a-f]{64}")
_STANDARD_SIG = re.compile(r"v1,[A-Za-z0-9+/]{43}=")  # base64 of an HMAC-SHA256 digest
ADMIN_BODY = 4096  # admin requests carry a few small fields


# An event waiting for the writer thread, with the loop and future its caller awaits.
_Pending = tuple[NewEvent, asyncio.AbstractEventLoop, asyncio.Future[bool]]


class IngestWriter:
    """Group-commits events to the inbox from one thread; callers await their own result."""

    def __init__(self, inbox: Inbox, on_stored: Callable[[], None] = lambda: None, batch: int = 512):
        self.inbox = inbox
        self.on_stored = on_stored
        self.batch = batch
        self._queue: queue.Queue[_Pending | None] = queue.Queue()  # None: stop
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
                results: Sequence[bool | None] = self.inbox.add_many([w[0] for w in work])
                error: Exception | None = None
            except Exception as exc:  # answered 503: the sender keeps the event and retries
                log.error("storing webhook events failed", error=str(exc), count=len(work))
                results, error = [None] * len(work), exc
            for (_, loop, future), result in zip(work, results):
                loop.call_soon_threadsafe(_settle, future, result, error)
            pending = any(new and item.state == "pending" for (item, _, _), new in zip(work, results))
            if error is None and pending:
                self.on_stored()  # only work worth waking for: ignored events need none


def _settle(future: asyncio.Future[bool], result: bool | None, error: Exception | None) -> None:
    """Answer one `store` caller: whether its event was new, or the error that kept it from the store."""
    if future.done():
        return
    if error is not None or result is None:
        future.set_exception(error or RuntimeError("event not stored"))
    else:
        future.set_result(result)


class Receiver:
    """What the receiver needs from the daemon, swappable on reload."""

    def __init__(self, *, writer: IngestWriter, inbox: Inbox, secrets: Callable[[], Sequence[str]],
                 path: str = "/webhooks/cogny", max_body: int = 1024 * 1024, tolerance: int = 300,
                 read_timeout: float = 10.0,
                 ready: Callable[[], tuple[bool, dict[str, Any]]] = lambda: (True, {}),
                 reload: Callable[[], Awaitable[tuple[bool, list[str]]]] | None = None,
                 admin_auth: Callable[[Request], bool | None] = lambda request: None,
                 targets: Callable[[Request], Awaitable[Response]] | None = None,
                 create_hook: Callable[[str, str], Awaitable[Response]] | None = None):
        self.writer, self.inbox, self.secrets = writer, inbox, secrets
        self.path, self.max_body, self.tolerance, self.read_timeout = path, max_body, tolerance, read_timeout
        self.ready, self.reload, self.targets = ready, reload, targets
        self.admin_auth, self.create_hook = admin_auth, create_hook
        self.rejections = RejectionLog()

    def app(self) -> Starlette:
        """The public webhook listener: webhooks and the probes, nothing else (admin_routes is elsewhere)."""
        # The Cogny path comes first: a connector can never shadow it.
        target_routes = ([Route("/webhooks/{connector}", self.targets, methods=["POST"])]
                         if self.targets else [])
        return Starlette(routes=[
            Route(self.path, self.receive, methods=["POST"]),
            *target_routes,
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/readyz", self.readyz, methods=["GET"]),
        ])

    def admin_routes(self) -> list[Route]:
        """/metrics, /-/reload and /-/webhooks/NAME: served on the admin listener (`admin.port`) only."""
        return [
            Route("/metrics", self.metrics, methods=["GET"]),
            Route("/-/reload", self.reload_config, methods=["POST"]),
            Route("/-/webhooks/{connector}", self.create_target_hook, methods=["POST"]),
        ]

    async def receive(self, request: Request) -> Response:
        if declared_over(request, self.max_body):
            return self._reject(413, "PAYLOAD_TOO_LARGE", f"body over {self.max_body} bytes", "too_large")
        secrets = list(self.secrets())
        if not secrets:  # the daemon said so at start-up; a sender must not mistake it for a bad signature
            return self._reject(404, "RECEIVER_OFF", "the Cogny webhook receiver is off: no webhook.secret "
                                "is configured", "receiver_off")
        if not self._plausibly_signed(request):  # refused before a byte of body is read
            return self._reject(401, "INVALID_SIGNATURE", "missing or invalid webhook signature", "signature")
        try:
            body = await read_capped(request, self.max_body, self.read_timeout)
        except SlowBody:
            return too_slow(self.read_timeout)
        if body is None:
            return self._reject(413, "PAYLOAD_TOO_LARGE", f"body over {self.max_body} bytes", "too_large")
        if not self._signed(body, request, secrets):
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

    def _plausibly_signed(self, request: Request) -> bool:
        """Whether the headers carry a well-formed signature (Cogny's, or Standard Webhooks' in date)."""
        cogny = request.headers.get("x-cogny-signature")
        if cogny:
            return bool(_HEX64.fullmatch(cogny.strip()))
        msg_id, stamp = request.headers.get("webhook-id", ""), request.headers.get("webhook-timestamp", "")
        sigs = request.headers.get("webhook-signature", "").split()
        if not (0 < len(msg_id) <= 255 and stamp.isdigit() and any(_STANDARD_SIG.fullmatch(s) for s in sigs)):
            return False
        return abs(datetime.now(timezone.utc).timestamp() - int(stamp)) <= self.tolerance

    def _signed(self, body: bytes, request: Request, secrets: Sequence[str]) -> bool:
        if not secrets:
            return False  # no secret configured: accept nothing rather than everything
        header = request.headers.get("x-cogny-signature")
        if header:
            return verify_cogny(body, header, secrets)
        return verify_standard(body, request.headers, secrets, self.tolerance)

    def _reject(self, status: int, code: str, message: str, reason: str) -> JSONResponse:
        self.rejections.note(reason, status, message)
        return reject(status, code, message, reason)

    async def healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(self, request: Request) -> Response:
        ok, detail = await asyncio.to_thread(self.ready)
        return JSONResponse({"ready": ok, **detail}, status_code=200 if ok else 503)

    async def metrics(self, request: Request) -> Response:
        counts = await asyncio.to_thread(self.inbox.counts)
        for state in EVENT_STATES:
            metrics.inbox_depth.labels(state).set(counts.get(state, 0))
        return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)

    async def reload_config(self, request: Request) -> Response:
        refused = self._admin_refusal(request, "reload")
        if refused is not None:
            return refused
        if self.reload is None:
            return envelope_error(404, "NOT_FOUND", "reload is not available")
        ok, problems = await self.reload()  # coalesced by the daemon: a burst costs one or two reloads
        if ok:
            return JSONResponse({"success": True, "data": {"reloaded": True}})
        return envelope_error(400, "INVALID_CONFIG", "new config rejected; the old one keeps running",
                              problems=problems)

    async def create_target_hook(self, request: Request) -> Response:
        """`{"target": URL}`: syncd asks the target to create its webhook (and answers its handshake)."""
        refused = self._admin_refusal(request, "webhook creation")
        if refused is not None:
            return refused
        if self.create_hook is None:
            return envelope_error(404, "NOT_FOUND", "webhook creation is not available")
        try:
            body = await read_capped(request, ADMIN_BODY, self.read_timeout)
        except SlowBody:
            return too_slow(self.read_timeout)
        target = _json_field(body, "target")
        if target is None or not re.fullmatch(r"https?://[^\s\"'<>\\]{1,2000}", target):
            return envelope_error(400, "INVALID_REQUEST",
                                  'body must be {"target": "https://…/webhooks/NAME"}')
        return await self.create_hook(request.path_params["connector"], target)

    def _admin_refusal(self, request: Request, what: str) -> Response | None:
        """None when the request may use an admin endpoint: from the loopback, with the admin token.

        The loopback check alone is defeated by a reverse proxy on the same host, hence the token;
        it is compared in constant time and never logged.
        """
        client = request.client.host if request.client else ""
        if client not in LOOPBACK:
            log.warning("admin request refused", what=what, reason="not from the loopback interface",
                        client=client)
            return envelope_error(403, "FORBIDDEN", f"{what} is only accepted from the loopback interface")
        allowed = self.admin_auth(request)
        if allowed is None:
            log.warning("admin request refused", what=what, reason="no admin.auth is configured")
            return envelope_error(403, "FORBIDDEN", f"{what} over HTTP is disabled: set admin.auth"
                                  + (" (or send SIGHUP)" if what == "reload" else ""))
        if not allowed:
            log.warning("admin request refused", what=what, reason="missing or wrong admin credentials",
                        client=client)
            answer = envelope_error(401, "UNAUTHORIZED", f"{what} needs the admin.auth credentials")
            answer.headers["WWW-Authenticate"] = "Bearer"
            return answer
        return None


class RejectionLog:
    """Logs refused deliveries at most once per `every` seconds per reason, with how many were refused
    since: a flood of bad requests must not become a flood of log lines (each is counted in metrics)."""

    def __init__(self, every: float = 10.0):
        self.every = every
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._since: dict[str, int] = {}

    def note(self, reason: str, status: int, message: str) -> bool:
        """Count one refusal; True when it was logged."""
        now = time.monotonic()
        with self._lock:
            self._since[reason] = self._since.get(reason, 0) + 1
            if now - self._last.get(reason, -self.every) < self.every:
                return False
            self._last[reason], count = now, self._since.pop(reason)
        log.warning("webhook delivery rejected", reason=reason, status=status, detail=message,
                    rejected_since_last_line=count)
        return True


async def read_capped(request: Request, max_body: int, timeout: float | None = None) -> bytes | None:
    """The body, or None as soon as it is known to exceed `max_body` (never buffered past it).

    Raises SlowBody when the whole body has not arrived within `timeout` seconds: a client
    trickling bytes must not hold a request (and its buffer) open for as long as it likes.
    """
    if declared_over(request, max_body):
        return None
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_body:
                    return None
                chunks.append(chunk)
    except TimeoutError:
        raise SlowBody() from None
    return b"".join(chunks)


def too_slow(timeout: float) -> JSONResponse:
    """408 for a body that did not arrive in time; the connection is closed with it."""
    answer = reject(408, "REQUEST_TIMEOUT", f"body not received within {timeout:g} s", "too_slow")
    answer.headers["Connection"] = "close"
    return answer


def declared_over(request: Request, max_body: int) -> bool:
    """Whether the declared Content-Length alone is over the cap (answered 413 without reading)."""
    declared = request.headers.get("content-length", "")
    return declared.isdigit() and int(declared) > max_body


def _json_field(body: bytes | None, key: str) -> str | None:
    """A string field of a small JSON object body, or None."""
    try:
        value = json.loads(body or b"")
    except (ValueError, RecursionError):
        return None
    field = value.get(key) if isinstance(value, dict) else None
    return field if isinstance(field, str) else None


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
