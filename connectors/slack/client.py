"""Slack's HTTP plumbing: per-channel pacing, the retry hook for slack-sdk, and error mapping.

`ChannelPacer` keeps Slack's posting pace (about one message per second per channel) before a
429 happens; `PolicyRetryHandler` plugs the shared `syncd.http.RetryPolicy` into slack-sdk's
retry hooks, so a 429's `Retry-After` and 5xx backoff follow the same policy as every other
client; `api_error` turns an `{"ok": false}` answer into a `ConnectorError` carrying Slack's
error code and never the token.
"""

from __future__ import annotations

import math
import socket
import threading
import time
from typing import Any, Callable
from urllib.error import URLError

import structlog
from slack_sdk.http_retry import HttpRequest, HttpResponse, RetryHandler, RetryState

from syncd.http import RetryPolicy, count_call, count_retry, count_wait
from syncd.sdk import ConnectorError, redact

log = structlog.get_logger("syncd.connectors.slack")
POST_INTERVAL = 1.0  # seconds between posts to one channel (Slack: ~1 message/s/channel)
WRITE_METHODS = frozenset({"chat.postMessage"})  # may duplicate if retried after being applied
RETRYABLE_CODES = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                             "request_timeout"})
HINTS = {"invalid_auth": "check `token`", "not_authed": "check `token`", "token_revoked": "check `token`",
         "account_inactive": "check `token`", "missing_scope": "add the scope to the Slack app",
         "channel_not_found": "check `channel` and that the bot can see it",
         "not_in_channel": "invite the bot to the channel"}


def api_error(exc: Any, what: str) -> ConnectorError:
    """Our own message from Slack's answer: the error code, Slack's detail lines, a hint; never the token."""
    response = exc.response
    status = int(getattr(response, "status_code", 0) or 0) or None
    data = response.data if isinstance(getattr(response, "data", None), dict) else {}
    code = str(data.get("error") or (f"http_{status}" if status else "unknown_error"))
    details = list((data.get("response_metadata") or {}).get("messages") or data.get("errors") or [])[:3]
    message = f"{what} refused"
    if details:
        message += ": " + "; ".join(str(d) for d in details)
    if code in HINTS:
        message += f" ({HINTS[code]})"
    retryable = status == 429 or bool(status and status >= 500) or code in RETRYABLE_CODES
    return ConnectorError("slack", redact(message), status=status, code=code, retryable=retryable)


class ChannelPacer:
    """At most one post per `interval` seconds per channel, shared by every thread of the connector.

    Each post reserves the next free slot under a lock (a monotonic "next allowed" time per
    channel), then sleeps outside it, so concurrent posts queue up in order instead of bursting.
    `done` moves the next slot to a full interval after the post's answer: Slack counts the second
    from when it handled the post, so a next post sent one second after the previous one was *sent*
    can arrive a few milliseconds early and be refused (429, then a whole second of Retry-After).
    """

    def __init__(self, interval: float = POST_INTERVAL, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.interval = interval
        self.clock = clock
        self.sleep = sleep
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, channel: str) -> float:
        """Block until `channel` may take another post; returns the seconds waited."""
        with self._lock:
            now = self.clock()
            slot = max(now, self._next.get(channel, now))
            self._next[channel] = slot + self.interval
        delay = slot - now
        if delay > 0:
            count_wait("slack", delay)
            self.sleep(delay)
        return delay

    def done(self, channel: str) -> None:
        """A post to `channel` was answered: the next one waits a full interval from now."""
        with self._lock:
            self._next[channel] = max(self._next.get(channel, -math.inf), self.clock() + self.interval)


class PolicyRetryHandler(RetryHandler):
    """slack-sdk retry hook that defers every decision to `syncd.http.RetryPolicy`.

    429 (Slack did not apply the call) waits `Retry-After`; 5xx and network errors are retried
    with backoff only when repeating cannot duplicate a message: never for a chat.postMessage
    that may have been applied, unless the connection was never made.
    """

    def __init__(self, policy: RetryPolicy, *, sleep: Callable[[float], None] = time.sleep):
        super().__init__(max_retry_count=max(0, policy.max_attempts - 1))
        self.policy = policy
        self.sleep = sleep

    def can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                  error: Exception | None = None) -> bool:
        delay = self._delay(state.current_attempt + 1, request, response, error)
        state.custom_values = {**(state.custom_values or {}), "delay": delay}
        return delay is not None

    def _delay(self, attempt: int, request: HttpRequest, response: HttpResponse | None,
               error: Exception | None) -> float | None:
        idempotent = _method(request.url) not in WRITE_METHODS
        if response is not None:
            count_call("slack", str(response.status_code))
            headers = {k: (v[0] if isinstance(v, list) and v else str(v))
                       for k, v in response.headers.items()}
            return self.policy.delay_for(attempt, response.status_code, headers, idempotent)
        if error is None or attempt >= self.policy.max_attempts:
            return None
        count_call("slack", type(error).__name__)
        return self.policy.delay_for_error(attempt, _never_sent(error), idempotent)

    def prepare_for_next_attempt(self, *, state: RetryState, request: HttpRequest,
                                 response: HttpResponse | None = None,
                                 error: Exception | None = None) -> None:
        delay = float((state.custom_values or {}).get("delay") or 0.0)
        reason = str(response.status_code) if response is not None else type(error).__name__
        count_retry("slack", reason)
        log.warning("retrying request", service="slack", method=_method(request.url),
                    attempt=state.current_attempt + 1, reason=reason, wait_seconds=round(delay, 2))
        state.next_attempt_requested = True
        self.sleep(delay)
        state.increment_current_attempt()


def _method(url: str) -> str:
    return url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def _never_sent(error: Exception) -> bool:
    reason = error.reason if isinstance(error, URLError) else error
    return isinstance(reason, (ConnectionRefusedError, socket.gaierror))


