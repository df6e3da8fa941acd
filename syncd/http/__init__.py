"""The one retry-and-rate-limit policy every outbound client shares, and the clients built on it.

`policy` decides (what is retried, after how long, how fast to go); `transport` applies it to
httpx, `requests_adapter` to requests (the `jira` library); `server` runs the daemon's and the
sandboxes' ASGI apps in a thread, `answers` are its error bodies. Connectors import what they
need from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from syncd.http.policy import (
    IDEMPOTENT_METHODS,
    Attempt,
    Pacer,
    RetryPolicy,
    RetrySettings,
    count_call,
    count_retry,
    count_wait,
    retry_after_seconds,
    send_with_policy,
)
from syncd.http.transport import PolicyTransport, make_client
from syncd.http.unreachable import unreachable

if TYPE_CHECKING:
    from syncd.http.requests_adapter import PolicyAdapter

__all__ = ["IDEMPOTENT_METHODS", "Attempt", "Pacer", "PolicyTransport", "RetryPolicy", "RetrySettings",
           "count_call", "count_retry", "count_wait", "make_client", "requests_adapter",
           "retry_after_seconds", "send_with_policy", "unreachable"]


def requests_adapter(service: str, policy: RetryPolicy) -> PolicyAdapter:
    """A requests HTTPAdapter applying the policy (imported on first use: only JIRA needs requests)."""
    from syncd.http.requests_adapter import requests_adapter as build

    return build(service, policy)
