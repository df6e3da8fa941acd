"""Keep secrets out of every line syncd prints.

Every secret value the config holds is registered here once at load time; `redact` then
replaces each occurrence (and common encodings of it) in any text — log lines, error
messages, status output — with `***`.

Only secrets syncd holds legitimately are registered: configured ones, and those a target
handed over in a handshake syncd asked for — never a value a caller merely sent, which could be
`", "` and so mask the syntax of every JSON log line. A value under `_MIN_LEN` characters is
never registered: it would mask ordinary words and punctuation, not a secret.
"""

from __future__ import annotations

import base64
import re
import threading
from typing import Any

MASK = "***"
_MIN_LEN = 8  # shorter "secrets" would mask ordinary words and JSON punctuation

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


def register(*values: str | None) -> None:
    """Remember secret values (and their basic-auth/base64 forms) for redaction."""
    global _pattern
    with _lock:
        for value in values:
            if not value or len(value.strip()) < _MIN_LEN:
                continue
            _secrets.add(value)
            _secrets.add(base64.b64encode(value.encode()).decode().rstrip("="))
        ordered = sorted(_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(s) for s in ordered)) if ordered else None


def register_basic_auth(user: str, password: str) -> None:
    """Basic auth puts base64("user:password") on the wire; mask that too."""
    register(password, base64.b64encode(f"{user}:{password}".encode()).decode().rstrip("="))


def redact(text: str) -> str:
    pattern = _pattern
    return pattern.sub(MASK, text) if pattern else text


def redact_value(value: Any) -> Any:
    """Redact strings inside nested dicts/lists/tuples; other values pass through."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value(v) for v in value)
    if isinstance(value, BaseException):
        return redact(str(value))
    return value


def clear() -> None:
    """Forget every registered secret (tests)."""
    global _pattern
    with _lock:
        _secrets.clear()
        _pattern = None
