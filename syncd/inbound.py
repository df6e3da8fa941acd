"""Webhooks from the targets themselves: `POST /webhooks/<connector name>`.

    verify (the connector's own scheme) → name the tickets → store one event each → 202

A delivery is only a hint: it names records, and the worker reads them fresh from the target
(syncd.syncback.refresh). So a forged or replayed delivery can at most cause a read, never a
write syncd would not otherwise make; signatures still keep strangers out.

Asana's handshake (`X-Hook-Secret` on the request that creates the webhook) is answered by
echoing the header, and the secret is kept in the store to verify later deliveries. The first
secret is kept (trust on first use): a later handshake with another secret is refused with 409,
since anyone can send one; `syncd db forget-hook-secret NAME` makes room for a new webhook.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any, Callable, Mapping

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from syncd import metrics, redact
from syncd.inbox import NewEvent
from syncd.observed import ObservedStore
from syncd.webhook import read_capped, reject

log = structlog.get_logger("syncd.inbound")
EVENT_TYPE = "target.changed"
SOURCE = "target"


class TargetHooks:
    """The `/webhooks/{connector}` endpoint; `current()` gives the live (connectors, config) on reload."""

    def __init__(self, *, writer: Any, observed: Callable[[], ObservedStore],
                 current: Callable[[], tuple[Mapping[str, Any], Any]]):
        self.writer = writer
        self.observed = observed
        self.current = current

    async def receive(self, request: Request) -> Response:
        name = request.path_params["connector"]
        connectors, config = self.current()
        entry = config.connectors.get(name)
        connector = connectors.get(name)
        if entry is None or connector is None or not entry.sync_back:
            return reject(404, "NOT_FOUND", "no connector of that name with sync_back: true", "unknown_connector")
        body = await read_capped(request, config.webhook.max_body_bytes)
        if body is None:
            return self._refuse(name, 413, "PAYLOAD_TOO_LARGE", "body too large", "too_large")
        secrets = await asyncio.to_thread(self._secrets, name, entry)
        headers = {k.lower(): v for k, v in request.headers.items()}
        delivery = connector.parse_webhook(body, headers, secrets, config.webhook.tolerance_seconds)
        if delivery.handshake_secret:
            return await self._handshake(name, delivery.handshake_secret)
        if not delivery.ok:
            outcome = "stale" if delivery.stale else "rejected_signature"
            return self._refuse(name, 401, "INVALID_SIGNATURE", delivery.reason or "signature check failed", outcome)
        tickets = await asyncio.to_thread(self.observed().tickets_for, name, list(dict.fromkeys(delivery.record_ids)))
        if not tickets:
            metrics.inbound_webhooks.labels(name, "unknown_record").inc()
            return JSONResponse({"success": True, "data": {"stored": 0, "reason": "no linked record"}}, status_code=202)
        stored = await self._store(name, delivery, tickets, body)
        if stored is None:
            return self._refuse(name, 503, "UNAVAILABLE", "event could not be stored; retry later", "store")
        metrics.inbound_webhooks.labels(name, "accepted").inc()
        return JSONResponse({"success": True, "data": {"stored": stored, "tickets": len(set(tickets.values()))}},
                            status_code=202)

    def _secrets(self, name: str, entry: Any) -> list[str]:
        out = [entry.webhook_secret.get_secret_value()] if entry.webhook_secret else []
        handed = self.observed().hook_secret(name)
        if handed:
            redact.register(handed)  # stored by an earlier process: never to be printed either
        return out + ([handed] if handed else [])

    async def _handshake(self, name: str, secret: str) -> Response:
        stored = await asyncio.to_thread(self.observed().set_hook_secret, name, secret)
        if not stored:
            log.warning("webhook handshake refused: a secret is already stored", connector=name,
                        hint=f"run `syncd db forget-hook-secret {name}` before registering the webhook again")
            return self._refuse(name, 409, "SECRET_ALREADY_STORED",
                                "a webhook secret is already stored for this connector", "handshake_refused")
        redact.register(secret)
        metrics.inbound_webhooks.labels(name, "handshake").inc()
        log.info("webhook handshake answered; secret stored", connector=name)
        return Response(status_code=200, headers={"X-Hook-Secret": secret})

    async def _store(self, name: str, delivery: Any, tickets: Mapping[str, str], body: bytes) -> int | None:
        delivery_id = delivery.delivery_id or hashlib.sha256(body).hexdigest()[:32]
        by_ticket: dict[str, list[str]] = {}
        for record_id, ticket_id in tickets.items():
            by_ticket.setdefault(ticket_id, []).append(record_id)
        stored = 0
        for ticket_id, record_ids in by_ticket.items():
            payload = json.dumps({"connector": name, "record_ids": record_ids, "delivery": delivery_id})
            event = NewEvent(f"{name}:{delivery_id}:{ticket_id}"[:255], EVENT_TYPE, ticket_id, payload, source=SOURCE)
            try:
                stored += bool(await self.writer.store(event))
            except Exception:
                return None
        return stored

    def _refuse(self, name: str, status: int, code: str, message: str, outcome: str) -> Response:
        metrics.inbound_webhooks.labels(name, outcome).inc()
        return reject(status, code, message, outcome)

