"""Webhook signature checks: Cogny's `X-Cogny-Signature`, the Standard Webhooks headers, and the
hex HMAC check the targets' webhooks (JIRA, Linear, Asana) use too.

Several secrets may be valid at once (rotation): a request passes when any of them verifies.
All comparisons are constant-time. A leaf module (pure, importing nothing of syncd): the daemon,
the connector SDK and the sandboxes all verify with it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from typing import Mapping, Sequence


def cogny_signature(body: bytes, secret: str) -> str:
    """Hex HMAC-SHA256 of the raw body, as Cogny sends in X-Cogny-Signature."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def hmac_hex_matches(body: bytes, given: str, secrets: Sequence[str]) -> bool:
    """Whether `given` is the hex HMAC-SHA256 of `body` under any of `secrets` (constant-time compares).

    Case and surrounding whitespace do not matter; an empty secret never matches. Every secret is
    tried (no early exit), so timing does not tell which one, if any, matched.
    """
    given = given.strip().lower()
    matched = False
    for secret in secrets:
        if secret:
            matched |= hmac.compare_digest(cogny_signature(body, secret), given)
    return matched


def verify_cogny(body: bytes, header: str, secrets: Sequence[str]) -> bool:
    """X-Cogny-Signature: the hex HMAC of the body, with or without a `sha256=` prefix."""
    given = header.strip()
    if given.lower().startswith("sha256="):
        given = given[7:]
    return hmac_hex_matches(body, given, secrets)


def _standard_keys(secret: str) -> list[bytes]:
    """Standard Webhooks keys are base64 after `whsec_`; fall back to the raw secret's bytes."""
    keys = []
    if secret.startswith("whsec_"):
        try:
            keys.append(base64.b64decode(secret[6:], validate=True))
        except (binascii.Error, ValueError):
            pass
    keys.append(secret.encode())
    return keys


def standard_signature(msg_id: str, timestamp: str, body: bytes, key: bytes) -> str:
    """The base64 HMAC-SHA256 Standard Webhooks signs (`webhook-signature: v1,<this>`)."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def verify_standard(body: bytes, headers: Mapping[str, str], secrets: Sequence[str], tolerance: int,
                    now: float | None = None) -> bool:
    """Standard Webhooks: `v1,<base64 HMAC>` of `id.timestamp.body`, within `tolerance` seconds of now."""
    msg_id, stamp = headers.get("webhook-id"), headers.get("webhook-timestamp")
    sigs = headers.get("webhook-signature")
    if not (msg_id and stamp and sigs):
        return False
    try:
        sent = int(stamp)
    except ValueError:
        return False
    if abs((now if now is not None else time.time()) - sent) > tolerance:
        return False  # stale or from the future: a replay window closed
    given = [part.split(",", 1)[1] for part in sigs.split() if part.startswith("v1,")]
    for secret in secrets:
        for key in _standard_keys(secret):
            expected = standard_signature(msg_id, stamp, body, key)
            if any(hmac.compare_digest(expected, g) for g in given):
                return True
    return False


def sign_headers(body: bytes, secret: str) -> dict[str, str]:
    """Headers Cogny would send (for the demo, tests and benchmarks)."""
    return {"X-Cogny-Signature": cogny_signature(body, secret), "Content-Type": "application/json"}
