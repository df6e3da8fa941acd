"""The shared policy as an httpx transport, and the one way to build an httpx client with it."""

from __future__ import annotations

import ssl
import threading
import time
import uuid
from typing import Callable

import httpx

from syncd.http.policy import IDEMPOTENT_METHODS, Attempt, Pacer, RetryPolicy, send_with_policy


class PolicyTransport(httpx.BaseTransport):
    """httpx transport applying RetryPolicy and Pacer, tagging requests with X-Request-ID."""

    def __init__(self, service: str, policy: RetryPolicy, *, pacer: Pacer | None = None,
                 inner: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep):
        self.service = service
        self.policy = policy
        self.pacer = pacer or Pacer(service, sleep=sleep)
        self.inner = inner or SchemeTransport()
        self.sleep = sleep

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.headers.setdefault("X-Request-ID", f"syncd-{uuid.uuid4().hex}")
        idempotent = request.method in IDEMPOTENT_METHODS or bool(request.extensions.get("idempotent"))
        return send_with_policy(
            Attempt(self.service, request.method, request.url.path, idempotent=idempotent),
            self.policy, self.pacer, lambda: self.inner.handle_request(request),
            transport_errors=(httpx.TransportError,),
            never_sent=lambda e: isinstance(e, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)),
            status=lambda r: r.status_code, headers=lambda r: r.headers,
            discard=_discard, sleep=self.sleep)

    def close(self) -> None:
        self.inner.close()


def _discard(response: httpx.Response) -> None:
    """Drain and close an answer that will be retried, so its connection goes back to the pool."""
    response.read()
    response.close()


class SchemeTransport(httpx.BaseTransport):
    """httpx's default transport, without building a TLS context that plain `http://` never uses.

    `httpx.HTTPTransport()` loads the CA bundle into a new SSL context up front (~16 ms of a
    start-up), even for a client that only talks `http://` (a sandbox, a local proxy). Here
    `https://` requests go through a default `httpx.HTTPTransport()` (certificate checks exactly
    as before), created at the first such request; other requests through a transport whose
    context has no CA loaded, which a plain connection never touches (and which would refuse
    any certificate if it ever were used).
    """

    def __init__(self) -> None:
        self._tls: httpx.HTTPTransport | None = None
        self._plain: httpx.HTTPTransport | None = None
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._for(request.url.scheme == "https").handle_request(request)

    def _for(self, tls: bool) -> httpx.HTTPTransport:
        transport = self._tls if tls else self._plain
        if transport is None:
            with self._lock:
                if tls:
                    transport = self._tls = self._tls or httpx.HTTPTransport()
                else:
                    transport = self._plain = self._plain or httpx.HTTPTransport(
                        verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
        return transport

    def close(self) -> None:
        with self._lock:
            for transport in (self._tls, self._plain):
                if transport is not None:
                    transport.close()


def make_client(service: str, base_url: str, policy: RetryPolicy, *, headers: dict[str, str] | None = None,
                transport: httpx.BaseTransport | None = None, pacer: Pacer | None = None) -> httpx.Client:
    """An httpx.Client for `service` with the shared policy installed."""
    return httpx.Client(
        base_url=base_url,
        headers={"User-Agent": _user_agent(), **(headers or {})},
        transport=PolicyTransport(service, policy, pacer=pacer, inner=transport),
        timeout=httpx.Timeout(policy.timeout, connect=min(10.0, policy.timeout)),
    )


def _user_agent() -> str:
    from syncd import __version__

    return f"syncd/{__version__}"
