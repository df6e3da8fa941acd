"""What every layer of the Asana sandbox shares: its error type and its timestamps.

The state, the events and the endpoints all raise `ApiError` (the endpoints turn it into Asana's
`{"errors": [...]}` body) and stamp times with `now_iso`, so both live below all of them.
"""

from __future__ import annotations

from datetime import datetime, timezone


class ApiError(Exception):
    """An Asana error answer: `{"errors": [{"message": ...}]}` with an HTTP status."""

    def __init__(self, status: int, *messages: str) -> None:
        self.status = status
        self.messages = list(messages) or ["Error"]
        super().__init__("; ".join(self.messages))


def now_iso() -> str:
    """Asana's timestamp form: UTC with milliseconds and a `Z`."""
    moment = datetime.now(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
