"""The one backoff formula: capped exponential delays with jitter.

Outbound HTTP retries (`syncd.http.policy.RetryPolicy`) and failed inbox events
(`syncd.store.inbox.Inbox.fail`) both wait by it. A leaf module (pure, importing nothing of
syncd), so that every layer may use it.
"""

from __future__ import annotations

import random
from typing import Callable


def delay(attempt: int, base: float, cap: float, *, floor: float = 0.0,
          rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait after failed attempt `attempt` (1 for the first).

    The delay doubles per attempt from `base` up to `cap`, then is scaled by jitter uniform in
    [floor, 1): `floor` 0 is "full jitter" (AWS architecture blog), spreading retries of many
    clients evenly; a higher floor keeps at least that share of the delay.
    """
    ceiling = min(cap, base * 2 ** (attempt - 1))
    return float(ceiling * (floor + (1.0 - floor) * rng()))
