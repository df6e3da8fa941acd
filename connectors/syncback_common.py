"""Small pieces the three sync-back sources share: signature checks, timestamps, JSON bodies."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timezone
from typing import Any, Sequence


def hmac_hex_matches(body: bytes, given: str, secrets: Sequence[str]) -> bool:
    """Whether `given` is the hex HMAC-SHA256 of `body` under any of `secrets` (constant-time compares).

    Every secret is tried (no early exit), so timing does not tell which one, if any, matched.
    """
    given = given.strip().lower()
    matched = False
    for secret in secrets:
        if secret:
            expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            matched |= hmac.compare_digest(expected, given)
    return matched


def parse_time(value: Any) -> datetime | None:
    """An aware datetime from the vendors' stamps (`…Z`, `…+00:00`, JIRA's `…+0000`); None if unreadable."""
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():  # +0000 -> +00:00
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def latest(*moments: datetime | None) -> datetime | None:
    known = [m for m in moments if m is not None]
    return max(known) if known else None


def json_object(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, or None."""
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None
