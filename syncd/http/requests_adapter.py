"""RetryPolicy and Pacer for `requests` (used by the `jira` library): same rules, other stack."""

from __future__ import annotations

import uuid
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from syncd.http.policy import IDEMPOTENT_METHODS, Attempt, Pacer, RetryPolicy, send_with_policy


class PolicyAdapter(HTTPAdapter):
    def __init__(self, service: str, policy: RetryPolicy, pacer: Pacer | None = None):
        super().__init__(max_retries=0, pool_maxsize=16)
        self.service = service
        self.policy = policy
        self.pacer = pacer or Pacer(service)

    def send(self, request: requests.PreparedRequest,  # type: ignore[override]
             **kwargs: Any) -> requests.Response:
        request.headers.setdefault("X-Request-ID", f"syncd-{uuid.uuid4().hex}")
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.policy.timeout
        method = request.method or "GET"
        return send_with_policy(
            Attempt(self.service, method, (request.path_url or "").split("?")[0],
                    method in IDEMPOTENT_METHODS),
            self.policy, self.pacer, lambda: super(PolicyAdapter, self).send(request, **kwargs),
            transport_errors=(requests.ConnectionError, requests.Timeout), never_sent=_never_sent,
            status=lambda r: r.status_code, headers=lambda r: r.headers, discard=lambda r: r.close())


def _never_sent(exc: Exception) -> bool:
    """Connect failures never reached the server; read timeouts and dropped answers may have."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    return (isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.ReadTimeout)
            and "Read timed out" not in str(exc) and "RemoteDisconnected" not in str(exc))


def requests_adapter(service: str, policy: RetryPolicy) -> PolicyAdapter:
    """A requests HTTPAdapter applying the same policy (for libraries built on requests)."""
    return PolicyAdapter(service, policy)
