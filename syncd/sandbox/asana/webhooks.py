"""The Asana sandbox's webhook and events endpoints, over the event log of hooks.py.

`POST /webhooks` runs the X-Hook-Secret handshake with the target before it creates anything;
`GET/DELETE /webhooks/{gid}`, `GET /webhooks?workspace=` and `GET /events?resource=&sync=`
read and remove what `AsanaEvents` keeps.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from syncd.sandbox._common.hooks import HookDispatcher
from syncd.sandbox.asana.endpoint import (
    PREFIX,
    Call,
    authenticate,
    body_data,
    count_request,
    endpoint,
    errors,
)
from syncd.sandbox.asana.state import AsanaState
from syncd.sandbox.asana.wire import ApiError

HANDSHAKE_FAILED = ("Could not complete activation handshake with target URL. Please ensure that the "
                    "receiving server is accepting connections and echoes the X-Hook-Secret header")


def routes(sb: AsanaState) -> list[Route]:
    """The webhook and events routes (the handlers read `sb.events` under the sandbox lock)."""
    def listing(call: Call) -> tuple[int, dict[str, Any]]:
        workspace = call.param("workspace")
        if workspace is None:
            raise ApiError(400, "workspace: Missing input")
        if workspace != sb.workspace_gid:
            raise ApiError(400, f"workspace: Not a recognized ID: {workspace}")
        resource = call.param("resource")
        rows = [_compact(w) for w in sb.events.webhooks.values() if resource in (None, w["resource"]["gid"])]
        return 200, {"data": rows, "next_page": None}

    def one(call: Call) -> tuple[int, dict[str, Any]]:
        found = sb.events.webhooks.get(call.path("webhook_gid"))
        if found is None:
            raise ApiError(404, f"webhook: Unknown object: {call.path('webhook_gid')}")
        return 200, {"data": found}

    def remove(call: Call) -> tuple[int, dict[str, Any]]:
        sb.events.delete(call.path("webhook_gid"))
        return 200, {"data": {}}

    def events(call: Call) -> tuple[int, dict[str, Any]]:
        resource = call.param("resource")
        if resource is None:
            raise ApiError(400, "resource: Missing input")
        return sb.events.page(resource, call.param("sync"))

    return [
        Route(PREFIX + "/webhooks", endpoint(sb, listing, "GET", None), methods=["GET"]),
        Route(PREFIX + "/webhooks", _create_endpoint(sb), methods=["POST"]),
        Route(PREFIX + "/webhooks/{webhook_gid}", endpoint(sb, one, "GET", None), methods=["GET"]),
        Route(PREFIX + "/webhooks/{webhook_gid}", endpoint(sb, remove, "DELETE", None), methods=["DELETE"]),
        Route(PREFIX + "/events", endpoint(sb, events, "GET", None), methods=["GET"]),
    ]


def _compact(webhook: dict[str, Any]) -> dict[str, Any]:
    return {k: webhook[k] for k in ("gid", "resource_type", "active", "resource", "target")}


def _create_endpoint(sb: AsanaState) -> Any:
    """POST /webhooks: checks under the lock, the handshake outside it (the target may call back in).

    A refusal carries no Retry-After here, even a 429: only the wrapped endpoints add it.
    """
    async def create(request: Request) -> JSONResponse:
        raw = await request.body()
        try:
            with sb.lock:
                count_request(sb, authenticate(sb, request))
                data = body_data(sb, raw, "POST", "/webhooks")
                sb.events.resource(str(data["resource"]))
            secret = secrets.token_hex(32)
            if not await asyncio.to_thread(_handshake, sb.events.dispatcher, str(data["target"]), secret):
                raise ApiError(400, HANDSHAKE_FAILED)
            with sb.lock:
                record = sb.events.create(str(data["resource"]), str(data["target"]),
                                          list(data.get("filters") or []), secret)
        except ApiError as exc:
            return errors(exc.status, exc.messages)
        return JSONResponse({"data": record, "X-Hook-Secret": secret}, status_code=201)

    return create


def _handshake(dispatcher: HookDispatcher, target: str, secret: str) -> bool:
    """POST the handshake; the target must answer 200/204 with the same X-Hook-Secret."""
    try:
        headers = {"X-Hook-Secret": secret, "Content-Type": "application/json"}
        answer = dispatcher.post_now(target, b"", headers)
    except httpx.HTTPError:
        return False
    echoed = answer.headers.get("x-hook-secret", "")
    return answer.status_code in (200, 204) and hmac.compare_digest(echoed, secret)
