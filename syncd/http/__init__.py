"""The one retry-and-rate-limit policy every outbound client shares, and the clients built on it.

`policy` decides (what is retried, after how long, how fast to go); `transport` applies it to
httpx, `requests_adapter` to requests (the `jira` library); `server` runs the daemon's and the
sandboxes' ASGI apps in a thread. Connectors import what they need from here.
"""

from syncd.http.policy import (
    IDEMPOTENT_METHODS,
    Attempt,
    Pacer,
    RetryPolicy,
    count_call,
    count_retry,
    count_wait,
    retry_after_seconds,
    send_with_policy,
)
from syncd.http.transport import PolicyTransport, make_client

__all__ = ["IDEMPOTENT_METHODS", "Attempt", "Pacer", "PolicyTransport", "RetryPolicy", "count_call", "count_retry",
           "count_wait", "make_client",
           "requests_adapter", "retry_after_seconds", "send_with_policy"]


def requests_adapter(service: str, policy: RetryPolicy) -> object:
    """A requests HTTPAdapter applying the policy (imported on first use: only JIRA needs requests)."""
    from syncd.http.requests_adapter import requests_adapter as build

    return build(service, policy)
