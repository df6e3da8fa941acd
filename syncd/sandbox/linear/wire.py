"""What every layer of the Linear sandbox shares: Linear's timestamps, stable ids and priority labels."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

PRIORITY_LABELS = ("No priority", "Urgent", "High", "Medium", "Low")  # by priority 0-4


def iso(moment: datetime) -> str:
    """Linear's timestamp form: ISO 8601 in UTC with milliseconds and a `Z`."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso() -> str:
    return iso(datetime.now(timezone.utc))


def stable_id(*parts: str) -> str:
    """Stable ids for seeded teams, states and people, so a config can name them across runs."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "linear-sandbox/" + "/".join(parts)))
