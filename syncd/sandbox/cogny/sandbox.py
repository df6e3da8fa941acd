"""In-process stand-in of the Cogny API (growth tickets and webhooks), faithful to the Cogny API reference.

It answers only what the docs describe: the `{success, data, meta}` envelope, cursor paging,
multi-value filters, PATCH that replaces `notes` whole and matches action items by title, per-key
fixed-window rate limits with `X-RateLimit-*` headers, and signed webhook deliveries sent from a
background thread so a slow receiver never stalls the API. Tests drive it over real HTTP and
change tickets "as a person in Cogny would" through the thread-safe Python helpers.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import math
import queue
import secrets
import threading
import time
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from syncd.sandbox._common.base import Recorder, Sandbox
from syncd.sandbox._common.tickets import CATEGORIES, PRIORITIES, STATUSES, iso

TICKET_EVENTS = ("ticket.created", "ticket.updated", "ticket.status_changed", "ticket.completed",
                 "ticket.dismissed")
# Documented in the overview; accepted in subscriptions but never fired by this sandbox.
OTHER_EVENTS = ("report.completed", "report.failed", "warehouse.connected", "warehouse.sync_completed")
DISMISS_REASONS = ("not_applicable", "already_implemented", "insufficient_impact", "resource_constraints",
                   "other")
PATCHABLE = ("status", "priority", "assignee", "notes", "action_items")
LIST_OMITS = ("notes", "assignee")  # the docs' list example has neither; GET returns the full ticket
PRIORITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}  # so `-priority` puts critical first
STATUS_RANK = {status: rank for rank, status in enumerate(STATUSES)}  # workflow order
SORT_FIELDS = ("created_at", "updated_at", "priority", "status", "estimated_impact.increase_percentage")
DEFAULT_SORT = "-created_at"
DEFAULT_KEYS = {"sk_test_sandbox": "standard"}

Handler = Callable[[Request], Awaitable["Reply"]]


class ApiError(Exception):
    """An error answer: HTTP status plus the documented `{code, message, details}`."""

    def __init__(self, status: int, code: str, message: str, details: dict | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details = details or {}
        self.headers = headers or {}


class Reply:
    """A success answer: `data`, its HTTP status and, for lists, the pagination block."""

    def __init__(self, data: Any, status: int = 200, pagination: dict | None = None) -> None:
        self.data, self.status, self.pagination = data, status, pagination


def bad_param(parameter: str, message: str, **details: Any) -> ApiError:
    return ApiError(400, "INVALID_PARAMETER", message, {"parameter": parameter, **details})


def _now() -> datetime:
    return datetime.now(timezone.utc)


def parse_time(value: str, parameter: str) -> datetime:
    """ISO 8601 date or timestamp (naive means UTC); anything else is the caller's 400."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise bad_param(parameter, f"'{parameter}' must be an ISO 8601 timestamp",
                        expected="ISO 8601 timestamp", value=value) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def epoch(stamp: str) -> float:
    return parse_time(stamp, "timestamp").timestamp()


class FixedWindow:
    """Per-key fixed-window counter; rejected requests count too (as they do at Cogny)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self._state: dict[str, tuple[float, int]] = {}

    def hit(self, key: str, now: float) -> tuple[int, float]:
        """Count one request; return (count in this window, window end as epoch seconds)."""
        start, count = self._state.get(key, (now, 0))
        if now >= start + self.window:
            start, count = now, 0
        self._state[key] = (start, count + 1)
        return count + 1, start + self.window


class Deliverer:
    """Webhook sender: one daemon thread draining a queue, retrying each delivery a few times."""

    def __init__(self, retries: int = 3, delay: float = 0.05, timeout: float = 2.0) -> None:
        self.retries, self.delay, self.timeout = retries, delay, timeout
        self.deliveries: list[dict[str, Any]] = []
        self._queue: queue.Queue[tuple | None] = queue.Queue()
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
        signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
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

    def _deliver(self, client: httpx.Client, url: str, body: bytes, signature: str, event: dict) -> None:
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


class CognySandbox(Sandbox):
    """The Cogny API on 127.0.0.1: tickets, stats, dismiss, bulk update, webhooks, rate limits."""

    name = "cogny"

    def __init__(self, tickets: list[dict] | None = None, *, api_keys: dict[str, str] | None = None,
                 rate_limit: int | None = None, rate_window: float = 60.0,
                 batch_rate_limit: int | None = None, app_url: str = "https://app.cogny.com") -> None:
        super().__init__()
        self.api_keys = dict(api_keys or DEFAULT_KEYS)  # key -> tier name (informational)
        self.app_url = app_url
        self.tickets: dict[str, dict] = {t["id"]: self._complete(t) for t in tickets or []}
        self.webhooks: dict[str, dict] = {}
        self._limits = FixedWindow(rate_limit, rate_window) if rate_limit is not None else None
        self._batch_limits = FixedWindow(batch_rate_limit, rate_window) if batch_rate_limit is not None else None
        self._deliverer = Deliverer()

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> "CognySandbox":
        self._deliverer.start()
        super().start(host, port)
        return self

    def stop(self) -> None:
        super().stop()
        self._deliverer.stop()

    def __enter__(self) -> "CognySandbox":
        return self.start()

    def build_app(self) -> ASGIApp:
        app = Starlette(routes=self.routes(), exception_handlers={HTTPException: self._route_error})
        return Recorder(app, self.log, self.faults)

    def routes(self) -> list[Route]:
        from syncd.sandbox.cogny.routes import TicketRoutes

        return TicketRoutes(self).routes()

    # -- Python helpers (tests, demo) ------------------------------------------------------------

    def add_ticket(self, ticket: dict) -> dict:
        """Add a ticket as if Cogny had just generated it; emits `ticket.created`."""
        full = self._complete(ticket)
        with self.lock:
            if full["id"] in self.tickets:
                raise ValueError(f"ticket {full['id']} already exists")
            self.tickets[full["id"]] = full
            self.emit("ticket.created", full)
            return copy.deepcopy(full)

    def ticket(self, ticket_id: str) -> dict:
        """A deep copy of one ticket in its full form (KeyError if unknown)."""
        with self.lock:
            return copy.deepcopy(self.tickets[ticket_id])

    def edit_ticket(self, ticket_id: str, **changes: Any) -> dict:
        """Change any fields as a person in the Cogny app would; bumps updated_at, emits events."""
        changed_by = changes.pop("changed_by", "user_sandbox")
        with self.lock:
            if ticket_id not in self.tickets:
                raise KeyError(ticket_id)
            if changes.get("id", ticket_id) != ticket_id:
                raise ValueError("a ticket's id cannot change")
            return copy.deepcopy(self.commit(ticket_id, changes, changed_by))

    def subscribe(self, url: str, secret: str, events: list[str] | None = None) -> dict:
        """Register a webhook subscription (all ticket events by default); returns it without the secret."""
        sub = {"id": f"wh_sub_{secrets.token_hex(6)}", "url": url, "events": list(events or TICKET_EVENTS),
               "active": True, "created_at": iso(_now())}
        with self.lock:
            self.webhooks[sub["id"]] = {**sub, "secret": secret}
        return sub

    @property
    def deliveries(self) -> list[dict[str, Any]]:
        """Finished webhook deliveries: event, event_id, url, status (None: no answer), attempts, payload."""
        return self._deliverer.wait(0, 0)

    def wait_for_deliveries(self, n: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Block until `n` deliveries finished or `timeout` passed; returns all deliveries so far."""
        return self._deliverer.wait(n, timeout)

    # -- state changes (callers hold self.lock) -----------------------------------------------------

    def commit(self, ticket_id: str, changes: dict[str, Any], changed_by: str) -> dict:
        """Apply whole-field `changes`; on a real change bump updated_at and emit the events.

        A no-op change leaves updated_at alone and fires nothing, so syncd's own write-back
        does not echo back to it forever.
        """
        ticket = self.tickets[ticket_id]
        before = copy.deepcopy(ticket)
        ticket.update(copy.deepcopy(changes))
        if ticket == before:
            return ticket
        now = iso(_now())
        if before["status"] != "dismissed" and ticket["status"] == "dismissed":
            ticket.setdefault("dismissed_at", now)
            ticket.setdefault("dismiss_reason", None)
        elif ticket["status"] != "dismissed":
            ticket.pop("dismissed_at", None)
            ticket.pop("dismiss_reason", None)
        ticket["updated_at"] = now
        extra = {"changed_by": changed_by}
        self.emit("ticket.updated", ticket, extra)
        if before["status"] != ticket["status"]:
            extra = {"previous_status": before["status"], "new_status": ticket["status"], **extra}
            self.emit("ticket.status_changed", ticket, extra)
            if ticket["status"] in ("completed", "dismissed"):
                self.emit(f"ticket.{ticket['status']}", ticket, extra)
        return ticket

    def emit(self, event_type: str, ticket: dict, extra: dict | None = None) -> None:
        """Queue `event_type` for every subscription that asked for it."""
        event = {
            "id": f"evt_{secrets.token_hex(8)}",
            "type": event_type,
            "created_at": iso(_now()),
            "data": {"ticket_id": ticket["id"], "warehouse_id": ticket.get("warehouse_id"), **(extra or {}),
                     "ticket": {k: ticket.get(k) for k in ("title", "priority", "category")}},
        }
        with self.lock:
            targets = [s for s in self.webhooks.values() if s["active"] and event_type in s["events"]]
        for sub in targets:
            self._deliverer.submit(sub["url"], sub["secret"], event)

    def _complete(self, ticket: dict) -> dict:
        """A deep copy with the fields every stored ticket has (tests may pass partial tickets)."""
        full = copy.deepcopy(ticket)
        if "id" not in full:
            full["id"] = f"tkt_{secrets.token_hex(4)}"
        stamp = iso(_now())
        defaults = {"warehouse_id": "wh_123abc", "status": "open", "priority": "medium",
                    "category": "conversion_optimization", "title": "", "description": "", "action_items": [],
                    "notes": "", "assignee": None, "created_at": stamp, "url": f"{self.app_url}/tickets/{full['id']}"}
        for key, value in defaults.items():
            full.setdefault(key, value)
        full.setdefault("updated_at", full["created_at"])
        return full

    # -- plumbing shared by every endpoint ---------------------------------------------------------

    def endpoint(self, handler: Handler, *, batch: bool = False) -> Callable[[Request], Awaitable[JSONResponse]]:
        """Wrap a handler with request ids, auth, rate limits and the response envelope."""

        async def run(request: Request) -> JSONResponse:
            request_id = request.headers.get("x-request-id") or f"req_{secrets.token_hex(6)}"
            headers = {"X-Request-ID": request_id}
            try:
                key = self._authenticate(request)
                headers.update(self._throttle(key, batch))
                reply = await handler(request)
            except ApiError as exc:
                return self._error(exc, request_id, {**headers, **exc.headers})
            except Exception as exc:  # a sandbox bug must still look like an API answer
                return self._error(ApiError(500, "INTERNAL_ERROR", repr(exc)), request_id, headers)
            body: dict[str, Any] = {"success": True, "data": reply.data, "meta": _meta(request_id)}
            if reply.pagination is not None:
                body["pagination"] = reply.pagination
            return JSONResponse(body, status_code=reply.status, headers=headers)

        return run

    def _authenticate(self, request: Request) -> str:
        """`Authorization: Bearer KEY` (recommended) or the legacy `X-API-Key: KEY`."""
        authorization = request.headers.get("authorization")
        if authorization is not None:
            scheme, _, key = authorization.partition(" ")
            key = key.strip() if scheme.lower() == "bearer" else ""
        else:
            key = request.headers.get("x-api-key", "").strip()
        if key not in self.api_keys:
            raise ApiError(401, "UNAUTHORIZED", "Missing or invalid API key")
        return key

    def _throttle(self, key: str, batch: bool) -> dict[str, str]:
        """Count the request; return the X-RateLimit-* headers or raise 429 with Retry-After."""
        windows = [w for w in (self._limits, self._batch_limits if batch else None) if w is not None]
        now = time.time()
        chosen: tuple[int, int, float] | None = None  # (limit, count, window end) of the tightest window
        with self.lock:
            for window in windows:
                count, end = window.hit(key, now)
                if chosen is None or window.limit - count < chosen[0] - chosen[1]:
                    chosen = (window.limit, count, end)
        if chosen is None:
            return {}
        limit, count, end = chosen
        headers = {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(max(0, limit - count)),
                   "X-RateLimit-Reset": str(math.ceil(end))}
        if count > limit:
            headers["Retry-After"] = str(max(1, math.ceil(end - now)))
            raise ApiError(429, "RATE_LIMIT_EXCEEDED", f"Rate limit of {limit} requests exceeded",
                           {"limit": limit, "retry_after": int(headers["Retry-After"])}, headers)
        return headers

    @staticmethod
    def _error(exc: ApiError, request_id: str, headers: dict[str, str]) -> JSONResponse:
        body = {"success": False, "error": {"code": exc.code, "message": exc.message, "details": exc.details},
                "meta": _meta(request_id)}
        return JSONResponse(body, status_code=exc.status, headers=headers)

    async def _route_error(self, request: Request, exc: Exception) -> JSONResponse:
        """Unknown paths and methods answer in the envelope too."""
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(status, "INTERNAL_ERROR")
        request_id = request.headers.get("x-request-id") or f"req_{secrets.token_hex(6)}"
        return self._error(ApiError(status, code, f"{request.method} {request.url.path}: {code.lower()}"),
                           request_id, {})


def _meta(request_id: str) -> dict[str, str]:
    return {"timestamp": iso(_now()), "request_id": request_id}


__all__ = ["ApiError", "CognySandbox", "Deliverer", "FixedWindow", "Reply", "CATEGORIES", "PRIORITIES",
           "STATUSES", "TICKET_EVENTS", "DISMISS_REASONS"]
