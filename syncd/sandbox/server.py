"""Run an ASGI app on 127.0.0.1 in a background thread (for the sandboxes and tests).

The class lives in `syncd.http_server`, next to the limits the daemon's own listener runs
with; this name stays so sandboxes and tests keep importing it from here. Sandboxes pass no
`limits`: they serve as they always did.
"""

from __future__ import annotations

from syncd.http_server import ServerThread

__all__ = ["ServerThread"]
