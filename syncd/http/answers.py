"""Error answers of syncd's own HTTP listener, in Cogny's envelope so senders see a familiar shape.

The daemon's endpoints and the listener's per-client cap (`syncd.http.server.PerClientLimit`)
answer with these; `reject` also counts the refusal (`syncd_webhook_events_rejected_total`).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from starlette.responses import JSONResponse

from syncd import metrics


def envelope_error(status: int, code: str, message: str, **details: Any) -> JSONResponse:
    """`{"success": false, "error": {code, message, details}, "meta": {timestamp, request_id}}`."""
    return JSONResponse({"success": False, "error": {"code": code, "message": message, "details": details},
                         "meta": {"timestamp": datetime.now(timezone.utc).isoformat(),
                                  "request_id": f"req_{uuid.uuid4().hex[:12]}"}}, status_code=status)


def reject(status: int, code: str, message: str, reason: str) -> JSONResponse:
    """`envelope_error`, counted under `reason` as a rejected request."""
    metrics.events_rejected.labels(reason).inc()
    return envelope_error(status, code, message)
