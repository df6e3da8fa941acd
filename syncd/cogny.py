"""Client for the Cogny API (docs/design.md sums up its contract): tickets, paging, errors as exceptions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Protocol
from urllib.parse import quote

import httpx
import structlog
from pydantic import SecretStr

from syncd import errors
from syncd.http import Pacer, RetryPolicy, make_client
from syncd.models import is_ticket_id

log = structlog.get_logger("syncd.cogny")
_CODE_TO_ERROR: dict[str, type[errors.CognyError]] = {
    "UNAUTHORIZED": errors.Unauthorized,
    "NOT_FOUND": errors.NotFound,
    "INVALID_PARAMETER": errors.InvalidParameter,
    "INVALID_REQUEST": errors.InvalidParameter,
    "RATE_LIMIT_EXCEEDED": errors.RateLimited,
}
_STATUS_TO_ERROR: dict[int, type[errors.CognyError]] = {
    401: errors.Unauthorized, 403: errors.Unauthorized, 404: errors.NotFound,
    400: errors.InvalidParameter, 429: errors.RateLimited,
}


class CognySettings(Protocol):
    """Where Cogny is and how to sign in: the `cogny:` section (`syncd.config.CognyConfig`)."""

    @property
    def base_url(self) -> str: ...

    @property
    def api_key(self) -> SecretStr: ...

    @property
    def timeout_seconds(self) -> float: ...


@dataclass
class Page:
    items: list[dict[str, Any]]
    has_more: bool
    next_cursor: str | None
    total_count: int | None


class CognyClient:
    """Typed access to /v1/tickets. Retries, pacing and X-Request-ID come from the shared policy."""

    def __init__(self, base_url: str, api_key: str, *, policy: RetryPolicy | None = None,
                 transport: httpx.BaseTransport | None = None, pacer: Pacer | None = None):
        self.base_url = base_url.rstrip("/")
        self._http = make_client(
            "cogny", self.base_url, policy or RetryPolicy(),
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            transport=transport, pacer=pacer,
        )

    @classmethod
    def from_config(cls, cfg: CognySettings, policy: RetryPolicy | None = None) -> "CognyClient":
        """A client for the `cogny:` section; `policy` defaults to the section's timeout alone."""
        policy = policy or RetryPolicy(timeout=cfg.timeout_seconds)
        return cls(cfg.base_url, cfg.api_key.get_secret_value(), policy=policy)

    # -- reading -------------------------------------------------------------------------
    def list_page(self, *, cursor: str | None = None, limit: int = 100, **filters: Any) -> Page:
        params = {k: _param(v) for k, v in filters.items() if v not in (None, [], "")}
        params["limit"] = limit
        if cursor:
            params["cursor"] = cursor
        body = self._request("GET", "/tickets", params=params)
        pag = body.get("pagination") or {}
        return Page(body.get("data") or [], bool(pag.get("has_more")), pag.get("next_cursor"),
                    pag.get("total_count"))

    def pages(self, *, limit: int = 100, **filters: Any) -> Iterator[Page]:
        """Every page of a listing, following next_cursor until has_more is false."""
        cursor: str | None = None
        seen_cursors: set[str] = set()
        while True:
            page = self.list_page(cursor=cursor, limit=limit, **filters)
            yield page
            if not page.has_more or not page.next_cursor:
                return
            if page.next_cursor in seen_cursors:  # a broken server must not loop us forever
                raise errors.CognyError(f"pagination cursor repeated: {page.next_cursor!r}")
            seen_cursors.add(page.next_cursor)
            cursor = page.next_cursor

    def get_ticket(self, ticket_id: str) -> dict[str, Any]:
        return _same_ticket(ticket_id, self._request("GET", ticket_path(ticket_id))["data"])

    # -- writing -------------------------------------------------------------------------
    def update_ticket(self, ticket_id: str, **fields: Any) -> dict[str, Any]:
        """PATCH a ticket. Note `notes` replaces the whole string: read, merge, then write."""
        data = _same_ticket(ticket_id, self._request("PATCH", ticket_path(ticket_id), json=fields)["data"])
        log.info("cogny ticket updated", ticket_id=ticket_id, fields=sorted(fields))
        return data

    def dismiss(self, ticket_id: str, reason: str, notes: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"reason": reason}
        if notes is not None:
            body["notes"] = notes
        answer = self._request("POST", ticket_path(ticket_id, "dismiss"), json=body)
        data = _same_ticket(ticket_id, answer["data"])
        log.info("cogny ticket dismissed", ticket_id=ticket_id, reason=reason)
        return data

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "CognyClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, **kw)
        except httpx.TimeoutException as exc:
            raise errors.CognyError(f"{method} {path} timed out ({type(exc).__name__})",
                                    retryable=True) from None
        except httpx.TransportError as exc:
            raise errors.CognyError(f"{method} {path}: cannot reach {self.base_url} ({exc})",
                                    retryable=True) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_success and isinstance(body, dict) and body.get("success", True):
            return body
        raise _error_from(response, body)


def ticket_path(ticket_id: str, *action: str) -> str:
    """`/tickets/<id>[/action]`: the id must have Cogny's shape, and is quoted as one path segment anyway.

    Ticket content is untrusted: an id such as `tkt_victim#x`, `tkt_victim?a=b` or `../tickets/tkt_victim`
    must never address another ticket.
    """
    if not is_ticket_id(ticket_id):
        raise errors.TicketDataError(f"ticket id {ticket_id!r} is not a Cogny ticket id (tkt_…); "
                                     "nothing sent")
    return "/".join(["/tickets", quote(ticket_id, safe=""), *action])


def _same_ticket(ticket_id: str, data: Any) -> dict[str, Any]:
    """The ticket Cogny answered with must be the one asked for, before anything acts on it."""
    answered = data.get("id") if isinstance(data, dict) else None
    if not isinstance(data, dict) or answered != ticket_id:
        raise errors.CognyError(f"asked Cogny for ticket {ticket_id} and got {answered!r} back; ignored")
    return data


def _param(value: Any) -> Any:
    """Multi-valued filters are sent comma-separated (`status=open,in_progress`)."""
    if isinstance(value, (list, tuple, set)):
        return ",".join(str(v) for v in value)
    return value


def _error_from(response: httpx.Response, body: Any) -> errors.CognyError:
    err = body.get("error") if isinstance(body, dict) else None
    meta = body.get("meta") if isinstance(body, dict) else None
    code = err.get("code") if isinstance(err, dict) else None
    message = err.get("message") if isinstance(err, dict) else None
    request_id = (meta or {}).get("request_id") or response.request.headers.get("X-Request-ID")
    cls = _CODE_TO_ERROR.get(code or "") or _STATUS_TO_ERROR.get(response.status_code, errors.CognyError)
    return cls(message or f"unexpected answer to {response.request.method} {response.request.url.path}",
               status=response.status_code, code=code, request_id=request_id,
               retryable=response.status_code == 429 or response.status_code >= 500)
