"""How the Asana sandbox serves a request: token, rate limit, the `{"data": ...}` body, errors.

Every endpoint runs through `endpoint`: bearer token (401 "Not Authorized"), the per-token
rate limiter (429 + Retry-After; rejected requests still count), the `{"data": {...}}` body
envelope, validation of the body against the operation's schema in Asana's published OpenAPI
document (unknown fields, read-only fields and wrong types are 400s), then the handler under
the sandbox lock. Errors come back as `{"errors": [{"message": ..., "help": ...}]}`.
The handlers are in tasks.py and webhooks.py; the route table in sandbox.py.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import Any, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse

from syncd.sandbox._common import ratelimit
from syncd.sandbox.asana.state import AsanaState
from syncd.sandbox.asana.wire import ApiError

PREFIX = "/api/1.0"
HELP = ("For more information on API status codes and how to handle them, read the docs on errors: "
        "https://developers.asana.com/docs/errors")
RATE_LIMITED = ("You've made too many requests and hit a rate limit. "
                "Please retry after the given amount of time.")
Reply = tuple[int, dict[str, Any]]


@dataclass
class Call:
    """One request as a handler sees it: the sandbox, the request and the body's `data`."""

    sb: AsanaState
    request: Request
    data: dict[str, Any]

    def path(self, name: str) -> str:
        return str(self.request.path_params[name])

    def param(self, name: str) -> str | None:
        return self.request.query_params.get(name)

    def opt_fields(self) -> list[str] | None:
        raw = self.param("opt_fields")
        return [f.strip() for f in raw.split(",") if f.strip()] if raw else None

    def task(self, name: str = "task_gid") -> dict[str, Any]:
        found = self.sb.lookup(self.path(name))
        if found is None:
            raise ApiError(404, f"Unknown object: {self.path(name)}")
        return found


Handler = Callable[[Call], Reply]


def endpoint(sb: AsanaState, handler: Handler, method: str, spec_path: str | None) -> Any:
    """The Starlette endpoint serving `handler`; `spec_path` names the operation whose body schema applies."""
    async def serve(request: Request) -> JSONResponse:
        raw = await request.body()
        with sb.lock:
            try:
                token = authenticate(sb, request)
                count_request(sb, token)
                data = body_data(sb, raw, method, spec_path) if spec_path else {}
                status, payload = handler(Call(sb, request, data))
            except ApiError as exc:
                headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
                return errors(exc.status, exc.messages, headers)
        return JSONResponse(payload, status_code=status)

    return serve


async def no_route(request: Request) -> JSONResponse:
    return errors(404, ["No matching route for request"])


def errors(status: int, messages: list[str], headers: dict[str, str] | None = None) -> JSONResponse:
    """Asana's error body; a 5xx also carries the `phrase` Asana adds for support requests."""
    found = [{"message": m, "help": HELP} for m in messages]
    if status >= 500:
        found = [{**e, "phrase": "6 sad squid snuggle softly"} for e in found]
    return JSONResponse({"errors": found}, status_code=status, headers=headers)


class RateLimited(ApiError):
    """429: over the token's rate limit; `retry_after` whole seconds until its window ends."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(429, RATE_LIMITED)
        self.retry_after = retry_after


def authenticate(sb: AsanaState, request: Request) -> str:
    """The bearer token, when it is one of the sandbox's; 401 otherwise."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or token not in sb.tokens:
        raise ApiError(401, "Not Authorized")
    return token


def count_request(sb: AsanaState, token: str) -> None:
    """Fixed window per token; a request over the limit is refused but still counted."""
    if sb.rate_limit is None:
        return
    now = time.monotonic()
    count, end = ratelimit.count(sb.rate_counts, token, now, sb.rate_window)
    if count > sb.rate_limit:
        raise RateLimited(max(1, math.ceil(end - now)))


def body_data(sb: AsanaState, raw: bytes, method: str, spec_path: str) -> dict[str, Any]:
    """The `data` object of a JSON body, checked against the published request schema."""
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        raise ApiError(400, "Could not parse request data, invalid JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        raise ApiError(400, "data: Missing input")
    problems = sb.spec.problems(method, spec_path, body)
    if problems:
        raise ApiError(400, *(p.removeprefix("data.") for p in problems))
    data: dict[str, Any] = body["data"]
    return data
