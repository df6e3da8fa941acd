"""Who may use the admin listener, and the CSRF token that guards the console's two POST actions.

Credentials come from `admin.auth` (a bearer token, or a user and password, read from the
environment). With credentials configured, every path of the admin listener (console, /metrics,
/-/reload) answers 401 without them; /-/reload and /-/webhooks/NAME also accept the older
`webhook.admin_token` as a bearer token, and refuse everyone when no credentials are configured.
A browser cannot send a bearer header, so the token is also accepted as the password of basic auth,
under any user name. Everything is compared in constant time and never logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_FIELD = "csrf"


@dataclass(frozen=True)
class Credentials:
    kind: str  # "bearer" or "basic"
    secret: str
    username: str | None = None  # basic only


def allowed(request: Request, creds: Credentials | None) -> bool:
    """Whether the request carries the configured credentials (always, when none are configured)."""
    if creds is None:
        return True
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme == "bearer" and creds.kind == "bearer":
        return _same(value, creds.secret)
    if scheme != "basic":
        return False
    try:
        user, sep, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return False
    if not sep:
        return False
    user_ok = creds.kind == "bearer" or _same(user, creds.username or "")
    return _same(password, creds.secret) and user_ok


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


class RequireAuth:
    """ASGI middleware: 401 with a Basic challenge (a browser then asks) unless `allowed`."""

    def __init__(self, app: ASGIApp, creds: Callable[[], Credentials | None]):
        self.app, self.creds = app, creds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # /-/reload and /-/webhooks/NAME check for themselves, more strictly: loopback, credentials required
        own_check = scope["type"] == "http" and scope["path"].startswith("/-/")
        if scope["type"] != "http" or own_check or allowed(Request(scope), self.creds()):
            await self.app(scope, receive, send)
            return
        answer = PlainTextResponse("authentication required\n", status_code=401)
        answer.headers["WWW-Authenticate"] = 'Basic realm="syncd admin", charset="UTF-8"'
        await answer(scope, receive, send)


class SecurityHeaders:
    """No framing (clickjacking a Retry button), no inline script, no sniffing, no referrer."""

    HEADERS = [(b"content-security-policy", b"default-src 'self'; script-src 'self'; style-src 'self'; "
                b"img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"),
               (b"x-frame-options", b"DENY"), (b"x-content-type-options", b"nosniff"),
               (b"referrer-policy", b"no-referrer"), (b"cache-control", b"no-store")]

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers if scope["type"] == "http" else send)


class Csrf:
    """A token per daemon process, put in every form; a POST without it (or from another origin) fails.

    Another site can make a logged-in browser post a form, but can neither read the token from our
    pages (same-origin policy) nor make a browser send our Origin.
    """

    def __init__(self, key: bytes | None = None):
        self._key = key or secrets.token_bytes(32)

    def token(self) -> str:
        return hmac.new(self._key, b"console-actions", hashlib.sha256).hexdigest()

    def check(self, request: Request, form_token: str | None) -> bool:
        if not form_token or not _same(form_token, self.token()):
            return False
        origin = request.headers.get("origin") or request.headers.get("referer")
        if origin and origin != "null":
            return urlsplit(origin).netloc == request.headers.get("host", "")
        return True
