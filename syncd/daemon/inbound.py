"""Webhooks from the targets themselves: `POST /webhooks/<connector name>`.

    headers → verify (the connector's own scheme) → name the tickets → store one event each → 202

A delivery is only a hint: it names records, and the worker reads them fresh from the target
(syncd.engine.syncback). So a forged or replayed delivery can at most cause a read, never a
write syncd would not otherwise make; signatures still keep strangers out. A delivery whose
signature header is missing or malformed is refused before its body is read.

Asana hands its webhook secret over in a handshake (`X-Hook-Secret` on a request to the target,
made while Asana creates the webhook). Anyone can send such a request, so a handshake is
accepted only while syncd itself is creating that connector's webhook (`create`, behind the
admin endpoint `POST /-/webhooks/<connector>`): the window is opened just before syncd calls
Asana's `POST /webhooks` and closed when the call returns, and takes one handshake. Any other
handshake is 403, its value neither stored, echoed nor registered for redaction. The accepted
secret is kept in the store to verify later deliveries (the first one is kept: another is 409
until `syncd db forget-hook-secret NAME`), and is echoed only in the handshake's answer, as
Asana's protocol requires.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
from typing import Callable, ContextManager, Mapping

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from syncd import metrics, redact
from syncd.config import Config, ConnectorEntry
from syncd.daemon.webhook import IngestWriter, declared_over, read_capped, too_slow
from syncd.errors import SlowBody, SyncdError
from syncd.http.answers import envelope_error, reject
from syncd.sdk.connector import Connector
from syncd.sdk.syncback import Delivery, SyncBackSource
from syncd.store.inbox import NewEvent
from syncd.store.observed import ObservedStore

log = structlog.get_logger("syncd.inbound")
EVENT_TYPE = "target.changed"
SOURCE = "target"


# Signature headers of the built-in sync-back targets, checked before a body is read. A plugin
# type is not listed: its body is read (capped, under the deadline) and its parse_webhook decides.
SIGNATURE_HEADERS: dict[str, tuple[str, re.Pattern[str]]] = {
    "jira": ("x-hub-signature", re.compile(r"(?i)sha256=[0-9a-f]{64}")),
    "linear": ("linear-signature", re.compile(r"(?i)[0-9a-f]{64}")),
    "asana": ("x-hook-signature", re.compile(r"(?i)[0-9a-f]{64}")),
}
# What a handed-over secret must look like to be stored (Asana's are long random tokens).
PLAUSIBLE_SECRET = re.compile(r"[A-Za-z0-9._~+/=-]{16,512}")


class _Window:
    """One expected handshake, opened by syncd's own webhook creation; takes one secret."""

    def __init__(self) -> None:
        self.secret: str | None = None


class TargetHooks:
    """The `/webhooks/{connector}` endpoint.

    `current()` holds the live (connectors, config) for a `with` block: a reload meanwhile
    closes the replaced connectors only once the block is done with them.
    """

    def __init__(self, *, writer: IngestWriter, observed: Callable[[], ObservedStore],
                 current: Callable[[], ContextManager[tuple[Mapping[str, Connector], Config]]],
                 read_timeout: float = 10.0):
        self.writer = writer
        self.observed = observed
        self.current = current
        self.read_timeout = read_timeout
        self._windows: dict[str, _Window] = {}  # connector -> open window (event loop thread only)

    async def receive(self, request: Request) -> Response:
        with self.current() as (connectors, config):
            return await self._receive(request, connectors, config)

    async def _receive(self, request: Request, connectors: Mapping[str, Connector],
                       config: Config) -> Response:
        name = request.path_params["connector"]
        entry = config.connectors.get(name)
        source = _sync_back_source(connectors.get(name))
        if entry is None or source is None or not entry.sync_back:
            return reject(404, "NOT_FOUND", "no connector of that name with sync_back: true",
                          "unknown_connector")
        if "x-hook-secret" in request.headers:
            return await self._handshake(name, request.headers["x-hook-secret"], request)
        secrets = await asyncio.to_thread(self._secrets, name, entry)
        if declared_over(request, config.webhook.max_body_bytes):
            return self._refuse(name, 413, "PAYLOAD_TOO_LARGE", "body too large", "too_large")
        problem = _signature_problem(entry.type, request.headers, secrets)
        if problem:  # refused before a byte of body is read
            return self._refuse(name, 401, "INVALID_SIGNATURE", problem, "rejected_signature")
        try:
            body = await read_capped(request, config.webhook.max_body_bytes, self.read_timeout)
        except SlowBody:
            metrics.inbound_webhooks.labels(name, "too_slow").inc()
            return too_slow(self.read_timeout)
        if body is None:
            return self._refuse(name, 413, "PAYLOAD_TOO_LARGE", "body too large", "too_large")
        headers = {k.lower(): v for k, v in request.headers.items()}
        delivery = source.parse_webhook(body, headers, secrets, config.webhook.tolerance_seconds)
        if delivery.handshake_secret or not delivery.ok:
            outcome = "stale" if delivery.stale else "rejected_signature"
            return self._refuse(name, 401, "INVALID_SIGNATURE", delivery.reason or "signature check failed",
                                outcome)
        record_ids = list(dict.fromkeys(delivery.record_ids))
        tickets = await asyncio.to_thread(self.observed().tickets_for, name, record_ids)
        if not tickets:
            metrics.inbound_webhooks.labels(name, "unknown_record").inc()
            return JSONResponse({"success": True, "data": {"stored": 0, "reason": "no linked record"}},
                                status_code=202)
        stored = await self._store(name, delivery, tickets, body)
        if stored is None:
            return self._refuse(name, 503, "UNAVAILABLE", "event could not be stored; retry later", "store")
        metrics.inbound_webhooks.labels(name, "accepted").inc()
        data = {"stored": stored, "tickets": len(set(tickets.values()))}
        return JSONResponse({"success": True, "data": data}, status_code=202)

    def _secrets(self, name: str, entry: ConnectorEntry) -> list[str]:
        out = [entry.webhook_secret.get_secret_value()] if entry.webhook_secret else []
        handed = self.observed().hook_secret(name)
        if handed and PLAUSIBLE_SECRET.fullmatch(handed):
            redact.register(handed)  # handed over by the target to an earlier process: never printed either
        return out + ([handed] if handed else [])

    # -- the handshake, only while syncd creates the webhook -------------------------------------
    async def create(self, name: str, target: str) -> Response:
        """Have the target create `name`'s webhook pointing at `target`, accepting its one handshake."""
        with self.current() as (connectors, config):
            return await self._create(name, target, connectors, config)

    async def _create(self, name: str, target: str, connectors: Mapping[str, Connector],
                      config: Config) -> Response:
        entry, connector = config.connectors.get(name), connectors.get(name)
        if entry is None or connector is None or not entry.sync_back:
            return reject(404, "NOT_FOUND", "no connector of that name with sync_back: true",
                          "unknown_connector")
        make = _webhook_creator(connector)
        if make is None:
            return envelope_error(400, "NOT_SUPPORTED", f"{entry.type} webhooks are registered in the "
                                  "target's own settings, with connectors.NAME.webhook_secret")
        if name in self._windows:
            return envelope_error(409, "IN_PROGRESS", "a webhook creation for this connector is under way")
        if await asyncio.to_thread(self.observed().hook_secret, name):
            return envelope_error(409, "SECRET_ALREADY_STORED", "a webhook secret is already stored for this "
                                  f"connector; run `syncd db forget-hook-secret {name}` first")
        window = self._windows[name] = _Window()
        made: tuple[str, str | None] | None = None
        error: str | None = None
        try:
            made = await asyncio.to_thread(make, target)
        except Exception as exc:  # the target refused or failed: nothing may stay stored from this window
            error = redact.redact(str(exc)) if isinstance(exc, SyncdError) else type(exc).__name__
        finally:
            del self._windows[name]
        if made is not None:
            error = _handshake_mismatch(window.secret, made[1])
        if made is None or error is not None:
            await asyncio.to_thread(self._forget, name, window.secret)
            log.error("webhook creation failed", connector=name, error=error)
            return envelope_error(502, "WEBHOOK_NOT_CREATED", f"the target did not create the webhook: "
                                  f"{error}")
        log.info("webhook created; its handshake secret is stored", connector=name, webhook=made[0])
        return JSONResponse({"success": True, "data": {"connector": name, "webhook": made[0]}},
                            status_code=201)

    def _forget(self, name: str, secret: str | None) -> None:
        """Drop a secret stored through a window whose webhook was not created (or not by that handshake)."""
        observed = self.observed()
        if secret is not None and observed.hook_secret(name) == secret:
            observed.forget_hook_secret(name)

    async def _handshake(self, name: str, secret: str, request: Request) -> Response:
        window = self._windows.get(name)
        if window is None or window.secret is not None or not PLAUSIBLE_SECRET.fullmatch(secret):
            # Unsolicited: the value is a caller's, so it is not stored, echoed nor registered for redaction.
            client = request.client.host if request.client else ""
            log.warning("webhook handshake refused: syncd is not creating this webhook", connector=name,
                        client=client)
            return self._refuse(name, 403, "HANDSHAKE_NOT_EXPECTED", "no webhook creation by syncd is under "
                                "way for this connector (see POST /-/webhooks/NAME)", "handshake_refused")
        window.secret = secret  # the window takes one handshake
        stored = await asyncio.to_thread(self.observed().set_hook_secret, name, secret)
        if not stored:
            log.warning("webhook handshake refused: a secret is already stored", connector=name,
                        hint=f"run `syncd db forget-hook-secret {name}` before registering the webhook again")
            return self._refuse(name, 409, "SECRET_ALREADY_STORED",
                                "a webhook secret is already stored for this connector", "handshake_refused")
        redact.register(secret)  # obtained legitimately: from here on, masked wherever it would print
        metrics.inbound_webhooks.labels(name, "handshake").inc()
        log.info("webhook handshake answered; secret stored", connector=name)
        return Response(status_code=200, headers={"X-Hook-Secret": secret})  # the one echo the protocol needs

    async def _store(self, name: str, delivery: Delivery, tickets: Mapping[str, str],
                     body: bytes) -> int | None:
        delivery_id = delivery.delivery_id or hashlib.sha256(body).hexdigest()[:32]
        by_ticket: dict[str, list[str]] = {}
        for record_id, ticket_id in tickets.items():
            by_ticket.setdefault(ticket_id, []).append(record_id)
        stored = 0
        for ticket_id, record_ids in by_ticket.items():
            payload = json.dumps({"connector": name, "record_ids": record_ids, "delivery": delivery_id})
            event = NewEvent(f"{name}:{delivery_id}:{ticket_id}"[:255], EVENT_TYPE, ticket_id, payload,
                             source=SOURCE)
            try:
                stored += bool(await self.writer.store(event))
            except Exception:
                return None
        return stored

    def _refuse(self, name: str, status: int, code: str, message: str, outcome: str) -> Response:
        metrics.inbound_webhooks.labels(name, outcome).inc()
        return reject(status, code, message, outcome)


def _signature_problem(kind: str, headers: Mapping[str, str], secrets: list[str]) -> str | None:
    """Why the headers alone already rule the delivery out, or None when its body is worth reading."""
    if not secrets:
        return "no webhook secret is configured or stored for this connector"
    if kind not in SIGNATURE_HEADERS:
        return None
    header, shape = SIGNATURE_HEADERS[kind]
    if not shape.fullmatch(headers.get(header, "").strip()):
        return f"missing or malformed {header} header"
    return None


def _sync_back_source(connector: Connector | None) -> SyncBackSource | None:
    """The connector as a sync-back source (it parses its target's webhooks), or None if it is not one."""
    return connector if isinstance(connector, SyncBackSource) else None


def _webhook_creator(connector: Connector) -> Callable[[str], tuple[str, str | None]] | None:
    """The connector's `create_webhook(target)` (Asana), or None when its webhooks are made elsewhere."""
    try:
        source = getattr(connector, "sync_back_source", None)
    except NotImplementedError:
        return None
    make = getattr(source, "create_webhook", None)
    return make if callable(make) else None


def _handshake_mismatch(received: str | None, returned: str | None) -> str | None:
    """Why the handshake syncd accepted is not the created webhook's, or None when it is."""
    if received is None:
        return "no handshake arrived while the webhook was being created"
    if returned is not None and not hmac.compare_digest(received.encode(), returned.encode()):
        return "the handshake syncd accepted was not the target's (another request raced it)"
    return None
