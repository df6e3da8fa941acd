"""The one retry-and-rate-limit policy every outbound client shares.

Like httpx's client/transport split: `RetryPolicy` decides (pure: should this answer be
retried, and after how long?), `Pacer` slows a client down from the rate-limit headers before
it hits 429, and thin adapters apply both to each HTTP stack we use:
`PolicyTransport` for httpx (Cogny, Linear, Asana), `PolicyAdapter` for requests (the `jira`
library). The Slack connector wraps the same policy in a slack-sdk retry handler.

Safety rule: a request that may have been applied (a POST that timed out or got a 5xx) is
*not* retried blindly — a retried create could duplicate a record. POSTs are retried only on
429 or when the connection was never made, unless the caller marks the request idempotent
(`extensions={"idempotent": True}`, e.g. a GraphQL query). The reconcile path's marker
look-up makes the next attempt safe instead.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import httpx
import structlog

from syncd import metrics

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"})
RETRY_STATUSES = frozenset({500, 502, 503, 504})
# Header families that announce a request budget: Cogny/GitHub style, and Linear's request budget.
RATE_LIMIT_PREFIXES = ("x-ratelimit", "x-ratelimit-requests")
log = structlog.get_logger("syncd.http")


@dataclass(frozen=True)
class RetryPolicy:
    """When to retry and how long to wait: capped exponential backoff with full jitter."""

    max_attempts: int = 5
    backoff: float = 0.5
    max_backoff: float = 30.0
    max_retry_after: float = 300.0
    timeout: float = 30.0

    def backoff_delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Full jitter (AWS architecture blog): uniform in [0, min(cap, base * 2**attempt))."""
        return rng() * min(self.max_backoff, self.backoff * (2 ** (attempt - 1)))

    def delay_for(self, attempt: int, status: int, headers: Mapping[str, str], idempotent: bool) -> float | None:
        """Seconds to wait before attempt `attempt + 1`, or None to give this answer back."""
        if attempt >= self.max_attempts:
            return None
        if status == 429:
            after = retry_after_seconds(headers)
            return min(after, self.max_retry_after) if after is not None else self.backoff_delay(attempt)
        if status in RETRY_STATUSES and (idempotent or status == 503 and "retry-after" in _lower(headers)):
            after = retry_after_seconds(headers)
            return min(after, self.max_retry_after) if after is not None else self.backoff_delay(attempt)
        return None

    def delay_for_error(self, attempt: int, never_sent: bool, idempotent: bool) -> float | None:
        """Seconds to wait after a transport error, or None to raise it.

        Safe to resend: a request that never reached the server, or one that is idempotent.
        Each HTTP stack decides `never_sent` from its own exception types.
        """
        if attempt >= self.max_attempts:
            return None
        return self.backoff_delay(attempt) if never_sent or idempotent else None


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Parse Retry-After (seconds or an HTTP date)."""
    value = _lower(headers).get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


@dataclass
class Pacer:
    """Spend the rate-limit budget, then wait for the window to reset instead of taking a 429.

    Reads `X-RateLimit-Remaining` / `X-RateLimit-Reset` (epoch seconds, or seconds-from-now when
    small) from each answer and counts requests in flight, so concurrent workers sharing one
    client do not overrun the budget between answers.
    """

    service: str
    reserve: int = 0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time
    _remaining: int | None = None
    _reset_at: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def before_request(self) -> None:
        while True:
            with self._lock:
                now = self.clock()
                if self._reset_at is not None and now >= self._reset_at:
                    self._remaining, self._reset_at = None, None
                if self._remaining is None or self._remaining > self.reserve:
                    if self._remaining is not None:
                        self._remaining -= 1
                    return
                wait = (self._reset_at or now) - now + 0.05
            metrics.pacing_waits.labels(self.service).inc(wait)
            log.info("rate limit budget spent; waiting for the window to reset",
                     service=self.service, wait_seconds=round(wait, 2))
            self.sleep(wait)

    def observe(self, headers: Mapping[str, str]) -> None:
        h = _lower(headers)
        for prefix in RATE_LIMIT_PREFIXES:
            remaining, reset = h.get(f"{prefix}-remaining"), h.get(f"{prefix}-reset")
            if remaining is not None and reset is not None:
                break
        else:
            return
        try:
            rem, rst = int(float(remaining)), float(reset)
        except ValueError:
            return
        now = self.clock()
        if rst > 1e12:
            rst /= 1000.0  # epoch milliseconds (Linear)
        reset_at = rst if rst > 1e9 else now + rst
        with self._lock:
            if self._reset_at is None or reset_at > self._reset_at + 0.5:
                self._remaining, self._reset_at = rem, reset_at  # a new window
            else:
                self._remaining = rem if self._remaining is None else min(self._remaining, rem)


class PolicyTransport(httpx.BaseTransport):
    """httpx transport applying RetryPolicy and Pacer, tagging requests with X-Request-ID."""

    def __init__(self, service: str, policy: RetryPolicy, *, pacer: Pacer | None = None,
                 inner: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep):
        self.service = service
        self.policy = policy
        self.pacer = pacer or Pacer(service, sleep=sleep)
        self.inner = inner or httpx.HTTPTransport()
        self.sleep = sleep

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.headers.setdefault("X-Request-ID", f"syncd-{uuid.uuid4().hex}")
        idempotent = request.method in IDEMPOTENT_METHODS or bool(request.extensions.get("idempotent"))
        attempt = 0
        while True:
            attempt += 1
            self.pacer.before_request()
            try:
                response = self.inner.handle_request(request)
            except httpx.TransportError as exc:
                metrics.external_calls.labels(self.service, type(exc).__name__).inc()
                never_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
                delay = self.policy.delay_for_error(attempt, never_sent, idempotent)
                if delay is None:
                    raise
                self._note_retry(request, attempt, delay, type(exc).__name__)
                continue
            metrics.external_calls.labels(self.service, str(response.status_code)).inc()
            self.pacer.observe(response.headers)
            delay = self.policy.delay_for(attempt, response.status_code, response.headers, idempotent)
            if delay is None:
                return response
            response.read()
            response.close()
            self._note_retry(request, attempt, delay, str(response.status_code))

    def _note_retry(self, request: httpx.Request, attempt: int, delay: float, reason: str) -> None:
        metrics.external_retries.labels(self.service, reason).inc()
        log.warning("retrying request", service=self.service, method=request.method,
                    path=request.url.path, attempt=attempt, reason=reason, wait_seconds=round(delay, 2))
        self.sleep(delay)

    def close(self) -> None:
        self.inner.close()


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


def requests_adapter(service: str, policy: RetryPolicy) -> Any:
    """A requests HTTPAdapter applying the same policy (for libraries built on requests)."""
    from syncd._requests_adapter import PolicyAdapter

    return PolicyAdapter(service, policy)
