"""Opaque page and sync tokens: url-safe base64 without padding, as the vendors' tokens look.

Asana's `offset` and events `sync`, Cogny's `cursor` and JIRA's `nextPageToken` all wrap a small
piece of state (what the caller asked for and where the next page starts) this way, so a client
can only hand a token back, never build one. What goes inside stays each service's own.
"""

from __future__ import annotations

import base64


def encode(raw: bytes) -> str:
    """`raw` as url-safe base64 with the trailing `=` padding cut off."""
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str) -> bytes:
    """The bytes `encode` wrapped (padding restored); ValueError when `token` is not base64."""
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
