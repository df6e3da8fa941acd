"""The `jira` library's client, connected on first use and driven through syncd's HTTP policy.

The library's own retries are off: its requests session is mounted on syncd's adapter, so JIRA
gets the same retry, backoff and pacing as every other service (docs/design.md invariant 4). Errors
come back as `ConnectorError`s built from JIRA's answer body, never from `JIRAError`'s text,
which embeds the request headers (credentials).
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from connectors.jira.settings import JiraSettings
from syncd.http import RetryPolicy, requests_adapter, unreachable
from syncd.sdk import ConnectorError


class JiraClient:
    def __init__(self, settings: JiraSettings, policy: RetryPolicy) -> None:
        self.settings = settings
        self.policy = policy
        self._client: Any = None
        self._lock = threading.Lock()

    def call(self, what: str, fn: Callable[[Any], Any]) -> Any:
        """`fn(client)`; any failure becomes a ConnectorError saying `what` failed and why."""
        import requests
        from jira import JIRAError

        try:
            return fn(self._jira())
        except JIRAError as exc:
            raise _error(exc, what) from None
        except requests.RequestException as exc:
            raise ConnectorError("jira", f"{what}: {type(exc).__name__}", retryable=True,
                                 unreachable=unreachable(exc)) from None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def _jira(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _connect(self) -> Any:
        from jira import JIRA, JIRAError

        s = self.settings
        auth: dict[str, Any] = (
            {"token_auth": s.token.get_secret_value()} if s.token else
            {"basic_auth": (s.email, s.api_token.get_secret_value())})  # type: ignore[union-attr]
        try:
            client = JIRA(server=s.url, max_retries=0, timeout=self.policy.timeout, get_server_info=False,
                          options={"check_update": False}, **auth)
            adapter = requests_adapter("jira", self.policy)
            client._session.mount("https://", adapter)
            client._session.mount("http://", adapter)
            info = client.server_info()  # what JIRA() asks first, asked here through the shared retry policy
            client._version = tuple(info["versionNumbers"])  # the library picks endpoints by version ...
            client.deploymentType = info.get("deploymentType")  # ... and by Cloud vs Server
        except JIRAError as exc:
            raise _error(exc, "connect") from None
        except Exception as exc:
            raise ConnectorError("jira", f"cannot reach {s.url}: {type(exc).__name__}",
                                 retryable=True, unreachable=unreachable(exc)) from None
        return client


def _error(exc: Any, what: str) -> ConnectorError:
    """JIRAError's str() embeds request headers (credentials): build our own message from the body."""
    status = getattr(exc, "status_code", None)
    detail = ""
    response = getattr(exc, "response", None)
    try:
        body = response.json() if response is not None else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        msgs = list(body.get("errorMessages") or [])
        msgs += [f"{k}: {v}" for k, v in (body.get("errors") or {}).items()]
        detail = "; ".join(msgs)
    if not detail:
        detail = (getattr(exc, "text", "") or "").strip()[:500] or "no details"
    return ConnectorError("jira", f"{what}: {detail}", status=status,
                          retryable=bool(status and (status == 429 or status >= 500)))
