"""Webhook signature checks: Cogny's hex HMAC (with rotation) and Standard Webhooks (with tolerance)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from syncd.signatures import cogny_signature, standard_signature, verify_cogny, verify_standard


def test_cogny_signature_hex_with_and_without_prefix_and_rotation() -> None:
    body = b'{"id":"evt_1"}'
    sig = hmac.new(b"new-secret", body, hashlib.sha256).hexdigest()
    assert cogny_signature(body, "new-secret") == sig
    assert verify_cogny(body, sig, ["old-secret", "new-secret"])
    assert verify_cogny(body, f"sha256={sig.upper()}", ["new-secret"])
    assert not verify_cogny(body, sig, ["old-secret"])
    assert not verify_cogny(body + b" ", sig, ["new-secret"])


def test_standard_webhooks_signature_and_tolerance() -> None:
    key = b"0123456789abcdef0123456789abcdef"
    secret = "whsec_" + base64.b64encode(key).decode()
    body, now = b'{"id":"evt_2","type":"ticket.created"}', int(time.time())
    sig = standard_signature("msg_1", str(now), body, key)
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(now),
               "webhook-signature": f"v1,bogus v1,{sig}"}
    assert verify_standard(body, headers, [secret], tolerance=300)
    stale = {**headers, "webhook-timestamp": str(now - 301)}
    assert not verify_standard(body, stale, [secret], tolerance=300)
    assert not verify_standard(body, {**headers, "webhook-id": "msg_2"}, [secret], tolerance=300)
    assert not verify_standard(body, {}, [secret], tolerance=300)
