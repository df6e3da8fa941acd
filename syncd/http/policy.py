"""The one retry-and-rate-limit policy every outbound client shares.

Like httpx's client/transport split: `RetryPolicy` decides (pure: should this answer be
retried, and after how long?), `Pacer` slows a client down from the rate-limit headers before
it hits 429, and `send_with_policy` is the one retry loop. Thin adapters apply them to each
HTTP stack we use: `syncd.http.transport.PolicyTransport` for httpx (Cogny, Linear, Asana),
`syncd.http.requests_adapter.PolicyAdapter` for requests (the `jira` library). The Slack
connector wraps the same policy in a slack-sdk retry handler.

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
from dataclasses import dataclass, field
from typing import Callable, Mapping, Protocol, TypeVar

import structlog

from syncd import backoff, metrics

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"})
RETRY_STATUSES = frozenset({500, 502, 503, 504})
# Header families that announce a request budget: Cogny/GitHub style, and Linear's request budget.
RATE_LIMIT_PREFIXES = ("x-ratelimit", "x-ratelimit-requests")
log = structlog.get_logger("syncd.http")


class RetrySettings(Protocol):
    """A config section that says how hard to retry (`syncd.config.SyncConfig`)."""

    @property
    def max_attempts(self) -> int: ...

    @property
    def backoff_seconds(self) -> float: ...

    @property
    def max_backoff_seconds(self) -> float: ...


@dataclass(frozen=True)
class RetryPolicy:
    """When to retry and how long to wait: capped exponential backoff with full jitter."""

    max_attempts: int = 5
    backoff: float = 0.5
    max_backoff: float = 30.0
    max_retry_after: float = 300.0
    timeout: float = 30.0

    @classmethod
    def from_settings(cls, settings: RetrySettings, *, timeout: float = 30.0) -> "RetryPolicy":
        """The policy a config section asks for (`sync:` in syncd.yaml): the one place that maps it."""
        return cls(max_attempts=settings.max_attempts, backoff=settings.backoff_seconds,
                   max_backoff=settings.max_backoff_seconds, timeout=timeout)

    def backoff_delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Full jitter: uniform in [0, min(max_backoff, backoff * 2**(attempt - 1)))."""
        return backoff.delay(attempt, self.backoff, self.max_backoff, rng=rng)

    def delay_for(self, attempt: int, status: int, headers: Mapping[str, str],
                  idempotent: bool) -> float | None:
        """Seconds to wait before attempt `attempt + 1`, or None to give this answer back."""
        if attempt >= self.max_attempts:
            return None
        if status == 429:
            return self.wait_after(attempt, headers)
        if status in RETRY_STATUSES and (idempotent or status == 503 and "retry-after" in _lower(headers)):
            return self.wait_after(attempt, headers)
        return None

    def wait_after(self, attempt: int, headers: Mapping[str, str]) -> float:
        """The answer's Retry-After (at most `max_retry_after`), else the backoff for `attempt`."""
        after = retry_after_seconds(headers)
        return min(after, self.max_retry_after) if after is not None else self.backoff_delay(attempt)

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
            count_wait(self.service, wait)
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


@dataclass(frozen=True)
class Attempt:
    """What a retry loop needs to know about the request it is sending."""

    service: str
    method: str
    path: str
    idempotent: bool


R = TypeVar("R")


def send_with_policy(req: Attempt, policy: RetryPolicy, pacer: Pacer, send: Callable[[], R], *,
                     transport_errors: tuple[type[Exception], ...], never_sent: Callable[[Exception], bool],
                     status: Callable[[R], int], headers: Callable[[R], Mapping[str, str]],
                     discard: Callable[[R], object], sleep: Callable[[float], None] = time.sleep) -> R:
    """The one retry loop: pace, send, count, and retry while the policy says so.

    Each HTTP stack supplies how to send, which of its exceptions are transport errors (and
    which of those mean the request never left), and how to read an answer.
    """
    attempt = 0
    while True:
        attempt += 1
        pacer.before_request()
        try:
            response = send()
        except transport_errors as exc:
            count_call(req.service, type(exc).__name__)
            delay = policy.delay_for_error(attempt, never_sent(exc), req.idempotent)
            if delay is None:
                raise
            _note_retry(req, attempt, delay, type(exc).__name__, sleep)
            continue
        code, answer_headers = status(response), headers(response)
        count_call(req.service, str(code))
        pacer.observe(answer_headers)
        delay = policy.delay_for(attempt, code, answer_headers, req.idempotent)
        if delay is None:
            return response
        discard(response)
        _note_retry(req, attempt, delay, str(code), sleep)


def _note_retry(req: Attempt, attempt: int, delay: float, reason: str,
                sleep: Callable[[float], None]) -> None:
    count_retry(req.service, reason)
    log.warning("retrying request", service=req.service, method=req.method, path=req.path, attempt=attempt,
                reason=reason, wait_seconds=round(delay, 2))
    sleep(delay)


# -- the counters every client feeds (`syncd_external_*`), also for stacks the policy does not wrap --
def count_call(service: str, outcome: str) -> None:
    """One answered call (`outcome`: the HTTP status) or transport failure (the error's class name)."""
    metrics.external_calls.labels(service, outcome).inc()


def count_retry(service: str, reason: str) -> None:
    metrics.external_retries.labels(service, reason).inc()


def count_wait(service: str, seconds: float) -> None:
    """Time spent waiting for a rate-limit window instead of hitting 429."""
    metrics.pacing_waits.labels(service).inc(seconds)
