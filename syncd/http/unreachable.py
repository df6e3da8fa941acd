"""Why a request never reached its server, in words an operator acts on: "DNS lookup failed" or
"connection refused" (None for anything else: a timeout, a reset, an answer).

Each HTTP stack wraps the socket error its own way (httpx.ConnectError, requests' ConnectionError
around urllib3's NewConnectionError, urllib's URLError), so the exception chain is walked — the
cause, the context, a `reason`, exception arguments — a bounded number of steps.
"""

from __future__ import annotations

import socket

DNS = "DNS lookup failed"
REFUSED = "connection refused"
_DNS_WORDS = ("name or service not known", "nodename nor servname", "temporary failure in name resolution",
              "failed to resolve", "name resolution", "no address associated with hostname", "getaddrinfo")
_STEPS = 16


def unreachable(exc: BaseException) -> str | None:
    """`DNS` or `REFUSED` when `exc` (or what it wraps) says so, else None."""
    seen: list[BaseException] = [exc]
    for current in seen:
        if len(seen) > _STEPS:
            break
        if isinstance(current, socket.gaierror):
            return DNS
        if isinstance(current, ConnectionRefusedError):
            return REFUSED
        text = str(current).lower()
        if any(word in text for word in _DNS_WORDS):
            return DNS
        if "connection refused" in text or "errno 111" in text:
            return REFUSED
        wrapped = (current.__cause__, current.__context__, getattr(current, "reason", None), *current.args)
        seen.extend(e for e in wrapped if isinstance(e, BaseException) and all(e is not s for s in seen))
    return None
