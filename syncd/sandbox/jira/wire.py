"""What every layer of the JIRA sandbox shares: its error type, parameter checks and timestamps.

`ApiError` is JIRA's error answer (`{"errorMessages": [...], "errors": {field: message}}`), raised
by the state, the field validation and the endpoints alike; times are kept as UTC datetimes at
JIRA's millisecond precision and written in JIRA's `2025-01-31T10:00:00.000+0000` form.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

BAD_CREDENTIALS = "Client must be authenticated to access this resource."


class ApiError(Exception):
    """An error answered in JIRA's body shape: `{"errorMessages": [...], "errors": {field: msg}}`."""

    def __init__(self, status: int, messages: list[str] | None = None, errors: dict[str, str] | None = None):
        super().__init__(f"{status}: {messages or ''} {errors or ''}")
        self.status = status
        self.messages = messages or []
        self.errors = errors or {}

    def body(self) -> dict[str, Any]:
        return {"errorMessages": self.messages, "errors": self.errors}


def count_param(raw: Any, name: str, default: int) -> int:
    """A non-negative integer query/body parameter (startAt, maxResults), else JIRA's 400."""
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        value = -1
    if value < 0 or isinstance(raw, bool):
        raise ApiError(400, [f"The value '{raw}' is not valid for the parameter '{name}'."])
    return value


def not_found_issue() -> ApiError:
    return ApiError(404, ["Issue does not exist or you do not have permission to see it."])


def utc_now() -> datetime:
    """Now, in UTC, at JIRA's millisecond precision."""
    moment = datetime.now(timezone.utc)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def jira_time(moment: datetime | None) -> str | None:
    """JIRA's timestamp format: 2025-01-31T10:00:00.000+0000."""
    if moment is None:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}" + moment.strftime("%z")
