"""Slack's Web API conventions: `{"ok": false}` errors, argument parsing, cursors.

Every method accepts its arguments in the query string, a form body or a JSON body (Slack
merges them; arrays and objects travel as JSON strings in a form); errors are HTTP 200 with
`{"ok": false, "error": code}` except where Slack uses another status (429, 404 for an unknown
method); list methods page with opaque cursors.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request


class SlackError(Exception):
    """An `{"ok": false}` answer (HTTP 200 unless rate limited)."""

    def __init__(self, error: str, *, status: int = 200, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(error)
        self.error, self.status, self.headers, self.extra = error, status, headers or {}, extra


def invalid(error: str, problems: list[str]) -> SlackError:
    messages = [f"[ERROR] {p}" for p in problems]
    return SlackError(error, errors=problems, response_metadata={"messages": messages})


async def arguments(request: Request) -> tuple[dict[str, Any], bool]:
    """Arguments from the query string plus a form-encoded or JSON body, as Slack merges them."""
    args: dict[str, Any] = dict(request.query_params)
    body = await request.body()
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not body:
        return args, False
    if ctype == "application/json":
        try:
            data = json.loads(body)
        except ValueError:
            raise SlackError("invalid_json") from None
        if not isinstance(data, dict):
            raise SlackError("json_not_object")
        args.update(data)
        return args, True
    if ctype in ("application/x-www-form-urlencoded", ""):
        args.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        return args, False
    raise SlackError("invalid_form_data")


def json_arg(value: Any, error: str) -> Any:
    """Form bodies carry arrays/objects as JSON strings; JSON bodies carry them as-is."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise SlackError(error) from None
    return value


def reject_unknown(args: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(args) - allowed)
    if unknown:
        raise invalid("invalid_arguments", [f"unknown argument {name!r}" for name in unknown])


def flag(value: Any) -> bool:
    """A boolean argument: `true` in JSON, or "1"/"true" in a query string or form."""
    return value is True or str(value).lower() in ("1", "true")


def encode_cursor(offset: int) -> str:
    """A page cursor: base64 of "offset:<n>", opaque to clients as Slack's are."""
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def decode_cursor(cursor: Any) -> int:
    """The offset a cursor of `encode_cursor` holds (0 for none); anything else is `invalid_cursor`."""
    if not cursor:
        return 0
    try:
        kind, _, value = base64.b64decode(str(cursor), validate=True).decode().partition(":")
        if kind == "offset" and value.isdigit():
            return int(value)
    except ValueError:
        pass
    raise SlackError("invalid_cursor")
