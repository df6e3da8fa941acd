"""Fixed-window rate limits per API key, as Cogny and Asana count requests.

Both services count every request, refused ones too: a client that keeps knocking while over the
limit stays over it. A window opens with a key's first request and lasts `window` seconds.
"""

from __future__ import annotations

Counts = dict[str, tuple[float, int]]  # key -> (start of its window, requests in it)


def count(counts: Counts, key: str, now: float, window: float) -> tuple[int, float]:
    """Count one request of `key` at `now`; return (requests in its window so far, when the window ends)."""
    start, seen = counts.get(key, (now, 0))
    if now >= start + window:
        start, seen = now, 0
    counts[key] = (start, seen + 1)
    return seen + 1, start + window


class FixedWindow:
    """One limit over one window length, with its own counts per key."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self._state: Counts = {}

    def hit(self, key: str, now: float) -> tuple[int, float]:
        """Count one request; return (count in this window, window end as epoch seconds)."""
        return count(self._state, key, now, self.window)
