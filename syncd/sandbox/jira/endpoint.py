"""How the JIRA sandbox serves a request: API version, credentials, the JSON body, JIRA's error body.

Every endpoint runs through `endpoint`, which checks the API version in the path, the
credentials (401 as JIRA answers it), the JSON body (400/415), takes the sandbox lock and turns
`ApiError` into JIRA's `{"errorMessages", "errors"}` body. The handlers are in meta.py,
issues.py, links.py and search.py; the route table in sandbox.py.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from syncd.sandbox.jira.render import Renderer
from syncd.sandbox.jira.state import JiraState
from syncd.sandbox.jira.wire import BAD_CREDENTIALS, ApiError, not_found_issue

Reply = tuple[int, Any]


@dataclass
class Call:
    """One request as a handler sees it."""

    sb: JiraState
    request: Request
    user: str | None
    body: Any
    version: str  # "2" or "3"
    render: Renderer

    def param(self, name: str, default: str | None = None) -> str | None:
        return self.request.query_params.get(name, default)

    def params(self, name: str) -> list[str]:
        return self.request.query_params.getlist(name)

    def path(self, name: str) -> str:
        return str(self.request.path_params[name])

    def issue(self) -> dict[str, Any]:
        found = self.sb.lookup(self.path("key"))
        if found is None:
            raise not_found_issue()
        return found


Handler = Callable[[Call], "Reply | Response"]


def endpoint(sb: JiraState, handler: Handler, anonymous: bool = False) -> Callable[[Request], Any]:
    """The Starlette endpoint serving `handler` (`anonymous`: it needs no credentials)."""
    async def serve(request: Request) -> Response:
        version = {"2": "2", "3": "3", "latest": "2"}.get(request.path_params.get("version", "2"))
        if version is None or (version == "3" and not sb.cloud):  # Server/DC has no REST v3
            return JSONResponse({"errorMessages": [f"null for uri: {request.url}"], "errors": {}}, 404)
        raw = await request.body()
        try:
            user = authenticate(sb, request)
            if user is None and not anonymous:
                raise ApiError(401, ["You are not authenticated. "
                                     "Authentication required to perform this operation."])
            body = _parse_body(request, raw)
            render = sb.renderer(str(request.base_url).rstrip("/"), version)
            call = Call(sb, request, user, body, version, render)
            with sb.lock:
                reply = handler(call)
        except ApiError as exc:
            return _error(sb, exc)
        if isinstance(reply, Response):
            return reply
        status, payload = reply
        return Response(status_code=status) if payload is None else JSONResponse(payload, status)

    return serve


def _error(sb: JiraState, exc: ApiError) -> Response:
    """JIRA's error body; Cloud answers rejected credentials with a plain-text 401."""
    headers = {"X-Seraph-LoginReason": "AUTHENTICATED_FAILED"} if exc.status == 401 else None
    if exc.status == 401 and sb.cloud and exc.messages == [BAD_CREDENTIALS]:
        challenge = {"WWW-Authenticate": 'Basic realm="protected-area"'}
        return PlainTextResponse(BAD_CREDENTIALS, 401, headers={**(headers or {}), **challenge})
    return JSONResponse(exc.body(), exc.status, headers=headers)


def _parse_body(request: Request, raw: bytes) -> Any:
    if not raw.strip():
        return None
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise ApiError(415, ["Unsupported Media Type: send JSON with Content-Type: application/json."])
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, [f"Unexpected character in JSON body: {exc}"]) from None


def authenticate(sb: JiraState, request: Request) -> str | None:
    """The user behind the request, None when anonymous; bad credentials raise a 401."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, credential = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            email, _, secret = base64.b64decode(credential.strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            email, secret = "", ""
        if email in sb.users and sb.users[email] == secret:
            return email
    elif scheme.lower() == "bearer" and credential.strip() in sb.tokens:
        return next(iter(sb.users), "bot@example.com")
    raise ApiError(401, [BAD_CREDENTIALS])
