"""RetryPolicy and Pacer for `requests` (used by the `jira` library): same rules, other stack."""

from __future__ import annotations

import time
import uuid
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from syncd import metrics
from syncd.http import IDEMPOTENT_METHODS, Pacer, RetryPolicy, log


class PolicyAdapter(HTTPAdapter):
    def __init__(self, service: str, policy: RetryPolicy, pacer: Pacer | None = None):
        super().__init__(max_retries=0, pool_maxsize=16)
        self.service = service
        self.policy = policy
        self.pacer = pacer or Pacer(service)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        request.headers.setdefault("X-Request-ID", f"syncd-{uuid.uuid4().hex}")
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.policy.timeout
        idempotent = (request.method or "GET") in IDEMPOTENT_METHODS
        attempt = 0
        while True:
            attempt += 1
            self.pacer.before_request()
            try:
                response = super().send(request, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                metrics.external_calls.labels(self.service, type(exc).__name__).inc()
                never_sent = isinstance(exc, requests.ConnectTimeout) or (
                    isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.ReadTimeout)
                    and "Read timed out" not in str(exc) and "RemoteDisconnected" not in str(exc))
                delay = self.policy.delay_for_error(attempt, never_sent, idempotent)
                if delay is None:
                    raise
                self._wait(request, attempt, delay, type(exc).__name__)
                continue
            metrics.external_calls.labels(self.service, str(response.status_code)).inc()
            self.pacer.observe(response.headers)
            delay = self.policy.delay_for(attempt, response.status_code, response.headers, idempotent)
            if delay is None:
                return response
            response.close()
            self._wait(request, attempt, delay, str(response.status_code))

    def _wait(self, request: requests.PreparedRequest, attempt: int, delay: float, reason: str) -> None:
        metrics.external_retries.labels(self.service, reason).inc()
        log.warning("retrying request", service=self.service, method=request.method,
                    path=(request.path_url or "").split("?")[0], attempt=attempt, reason=reason,
                    wait_seconds=round(delay, 2))
        time.sleep(delay)
