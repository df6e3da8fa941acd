"""The Cogny API's answer types and parameter parsing, shared by the endpoints and their plumbing.

Handlers return a `Reply` (the `data` of a success answer, its status, a list's pagination) or
raise `ApiError` (the documented `{code, message, details}`); `CognySandbox.endpoint` wraps
either in the `{success, data | error, meta}` envelope.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

from starlette.requests import Request

Handler = Callable[[Request], Awaitable["Reply"]]


class ApiError(Exception):
    """An error answer: HTTP status plus the documented `{code, message, details}`."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details = details or {}
        self.headers = headers or {}


class Reply:
    """A success answer: `data`, its HTTP status and, for lists, the pagination block."""

    def __init__(self, data: Any, status: int = 200, pagination: dict[str, Any] | None = None) -> None:
        self.data, self.status, self.pagination = data, status, pagination


def bad_param(parameter: str, message: str, **details: Any) -> ApiError:
    return ApiError(400, "INVALID_PARAMETER", message, {"parameter": parameter, **details})


def parse_time(value: str, parameter: str) -> datetime:
    """ISO 8601 date or timestamp (naive means UTC); anything else is the caller's 400."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise bad_param(parameter, f"'{parameter}' must be an ISO 8601 timestamp",
                        expected="ISO 8601 timestamp", value=value) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def epoch(stamp: str) -> float:
    return parse_time(stamp, "timestamp").timestamp()
