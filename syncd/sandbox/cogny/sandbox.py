"""In-process stand-in of the Cogny API (growth tickets and webhooks), faithful to the Cogny API reference.

It answers only what the docs describe: the `{success, data, meta}` envelope, cursor paging,
multi-value filters, PATCH that replaces `notes` whole and matches action items by title, per-key
fixed-window rate limits with `X-RateLimit-*` headers, and signed webhook deliveries sent from a
background thread so a slow receiver never stalls the API. Tests drive it over real HTTP and
change tickets "as a person in Cogny would" through the thread-safe Python helpers.

The package splits it by concept, each module depending only on those listed before it:
`wire.py` (answer types, parameter parsing), `hooks.py` (events and their signed delivery),
`state.py` (tickets and subscriptions, the helpers tests use), `routes.py` (the endpoints), and
this module: `CognySandbox`, the state behind auth, rate limits and the envelope.
"""

from __future__ import annotations

import math
import secrets
import time
from typing import Any, Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from syncd.sandbox._common.base import Recorder
from syncd.sandbox._common.ratelimit import FixedWindow
from syncd.sandbox._common.tickets import CATEGORIES, PRIORITIES, STATUSES
from syncd.sandbox.cogny.hooks import TICKET_EVENTS, Deliverer
from syncd.sandbox.cogny.routes import DISMISS_REASONS, TicketRoutes
from syncd.sandbox.cogny.state import CognyState
from syncd.sandbox.cogny.wire import ApiError, Handler, Reply

__all__ = ["ApiError", "CognySandbox", "Deliverer", "FixedWindow", "Reply", "CATEGORIES", "PRIORITIES",
           "STATUSES", "TICKET_EVENTS", "DISMISS_REASONS"]


class CognySandbox(CognyState):
    """The Cogny API on 127.0.0.1: tickets, stats, dismiss, bulk update, webhooks, rate limits."""

    def build_app(self) -> ASGIApp:
        app = Starlette(routes=self.routes(), exception_handlers={HTTPException: self._route_error})
        return Recorder(app, self.log, self.faults)

    def routes(self) -> list[Route]:
        return [Route(path, self.endpoint(handler, batch=batch), methods=[method])
                for path, method, handler, batch in TicketRoutes(self).table()]

    # -- plumbing shared by every endpoint ---------------------------------------------------------

    def endpoint(self, handler: Handler, *,
                 batch: bool = False) -> Callable[[Request], Awaitable[JSONResponse]]:
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
            body: dict[str, Any] = {"success": True, "data": reply.data, "meta": self._meta(request_id)}
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

    def _error(self, exc: ApiError, request_id: str, headers: dict[str, str]) -> JSONResponse:
        body = {"success": False, "error": {"code": exc.code, "message": exc.message, "details": exc.details},
                "meta": self._meta(request_id)}
        return JSONResponse(body, status_code=exc.status, headers=headers)

    async def _route_error(self, request: Request, exc: Exception) -> JSONResponse:
        """Unknown paths and methods answer in the envelope too."""
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(status, "INTERNAL_ERROR")
        request_id = request.headers.get("x-request-id") or f"req_{secrets.token_hex(6)}"
        return self._error(ApiError(status, code, f"{request.method} {request.url.path}: {code.lower()}"),
                           request_id, {})


    def _meta(self, request_id: str) -> dict[str, str]:
        return {"timestamp": self.stamp(), "request_id": request_id}
