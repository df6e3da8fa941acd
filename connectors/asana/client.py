"""Asana's REST API as the Asana connector uses it: requests, `{"data": …}` envelopes, paging, errors.

Every request goes through the shared policy client (`syncd.http.make_client`): 429 waits for
`Retry-After`, idempotent calls retry 5xx, and a create that got a 5xx is not retried blindly
(the engine's marker look-up makes the next attempt safe). Asana's error bodies become one
`ConnectorError` line without request headers in it; listings follow `next_page.offset`, bounded.
"""

from __future__ import annotations

from typing import Any, Iterator

import httpx
import structlog

from syncd.http import RetryPolicy, make_client, unreachable
from syncd.sdk import ConnectorError, redact, register_secret

log = structlog.get_logger("syncd.connectors.asana")
PAGE_SIZE = 100   # Asana's maximum `limit`
MAX_PAGES = 100   # a listing stops after 10,000 records (with a warning)


class AsanaHttp:
    """One Asana API root and token: `call` answers a record's `data`, `pages` a listing's records."""

    def __init__(self, base_url: str, token: str, policy: RetryPolicy):
        register_secret(token)
        self._client = make_client("asana", base_url, policy,
                                   headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})

    def close(self) -> None:
        self._client.close()

    def call(self, method: str, path: str, what: str, *, params: dict[str, Any] | None = None,
             data: dict[str, Any] | None = None) -> dict[str, Any]:
        """One request whose answer is a single record: its `data` object."""
        return answer_data(self.send(method, path, what, params=params, data=data), what)

    def send(self, method: str, path: str, what: str, *, params: dict[str, Any] | None = None,
             data: dict[str, Any] | None = None, allow: tuple[int, ...] = ()) -> httpx.Response:
        """One request; an error status not in `allow` raises `ConnectorError` (`what` names the call)."""
        try:
            response = self._client.request(method, path, params=params,
                                            json={"data": data} if data is not None else None)
        except httpx.HTTPError as exc:
            raise ConnectorError("asana", f"{what}: {type(exc).__name__}", retryable=True,
                                 unreachable=unreachable(exc)) from None
        if response.status_code >= 400 and response.status_code not in allow:
            raise to_connector_error(response, what)
        return response

    def pages(self, path: str, params: dict[str, Any], what: str) -> Iterator[dict[str, Any]]:
        """Every record of a paged list (bounded by MAX_PAGES), following `next_page.offset`."""
        offset: str | None = None
        for _ in range(MAX_PAGES):
            query = {**params, "limit": PAGE_SIZE, **({"offset": offset} if offset else {})}
            body = answer_body(self.send("GET", path, what, params=query), what)
            yield from body.get("data") or []
            offset = (body.get("next_page") or {}).get("offset")
            if not offset:
                return
        log.warning("asana listing stopped at the page limit", path=path, pages=MAX_PAGES)


def answer_body(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ConnectorError("asana", f"{what}: answer is not a JSON object", status=response.status_code)
    return body


def answer_data(response: httpx.Response, what: str) -> dict[str, Any]:
    data = answer_body(response, what).get("data")
    if not isinstance(data, dict):
        raise ConnectorError("asana", f"{what}: answer has no `data` object", status=response.status_code)
    return data


def to_connector_error(response: httpx.Response, what: str) -> ConnectorError:
    """Asana's `{"errors": [{"message", "help", "phrase"}]}` as one line (no request headers in it)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    errors = body.get("errors") if isinstance(body, dict) else None
    errors = [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
    detail = "; ".join(str(e["message"]) for e in errors if e.get("message")) or \
        response.reason_phrase or "no details"
    phrases = [str(e["phrase"]) for e in errors if e.get("phrase")]
    if phrases:
        detail += f" (phrase: {', '.join(phrases)})"
    status = response.status_code
    return ConnectorError("asana", f"{what}: {redact(detail)}", status=status,
                          retryable=status == 429 or status >= 500)
