"""In-process Asana (REST API 1.0) that syncd's Asana connector talks real HTTP to.

The package splits it by concept, each module depending only on those listed before it:

- `wire.py`: `ApiError` and Asana's timestamps, shared by every layer;
- `hooks.py`: the event log, webhook registry and signed deliveries (`AsanaEvents`);
- `state.py`: the workspace's data and rules, and the helpers tests use (`AsanaState`);
- `render.py`: tasks and references as Asana's JSON, `opt_fields`;
- `endpoint.py`: auth, the rate limiter, the `{"data": ...}` envelope checked against Asana's
  published OpenAPI document, errors;
- `tasks.py` and `webhooks.py`: the endpoints;
- this module: `AsanaSandbox`, the state served on those routes.
"""

from __future__ import annotations

from starlette.routing import Route

from syncd.sandbox.asana import tasks, webhooks
from syncd.sandbox.asana.endpoint import no_route
from syncd.sandbox.asana.state import AsanaState
from syncd.sandbox.asana.wire import ApiError

__all__ = ["AsanaSandbox", "ApiError"]


class AsanaSandbox(AsanaState):
    """A faithful stand-in for the parts of Asana's REST API that syncd uses (knobs: see `AsanaState`)."""

    def routes(self) -> list[Route]:
        return [
            *tasks.routes(self),
            *webhooks.routes(self),  # /webhooks, /events
            Route("/{rest:path}", no_route, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
        ]
