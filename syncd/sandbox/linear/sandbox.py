"""In-process Linear: `POST /graphql`, validated against Linear's published schema.

Every document is parsed and validated with graphql-core against Linear's schema as vendored
in `syncd/sandbox/specs/` (a misspelt field is refused with HTTP 400 GRAPHQL_VALIDATION_FAILED,
as Linear refuses it), then executed by the resolvers. Authentication and rate limiting answer
the way Linear does: HTTP 400 with `extensions.code` AUTHENTICATION_ERROR or RATELIMITED
(linear/linear#471; Linear's SDK maps both codes).

The package splits it by concept, each module depending only on those listed before it:
`wire.py` (timestamps, ids, priority labels), `schema.py` (the schema, Linear's errors,
connections and filters), `hooks.py` (webhooks), `state.py` (the workspace's data and rules,
the helpers tests use), `resolvers.py` (queries and mutations), and this module: `LinearSandbox`,
the state behind the GraphQL endpoint.
"""

from __future__ import annotations

import json
import time
from typing import Any

from graphql import GraphQLError, execute_sync, get_operation_ast, parse, validate
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from syncd.sandbox._common.base import mark_read_only
from syncd.sandbox.linear.resolvers import Resolvers
from syncd.sandbox.linear.schema import resolve_field
from syncd.sandbox.linear.state import DEFAULT_KEY, LinearState

__all__ = ["LinearSandbox", "DEFAULT_KEY"]


def _error(status: int, message: str, code: str, kind: str,
           headers: dict[str, str] | None = None) -> JSONResponse:
    """An error answer as Linear gives one outside execution: `errors[0].extensions.code` says what."""
    extensions = {"code": code, "type": kind, "userPresentableMessage": message}
    return JSONResponse({"errors": [{"message": message, "extensions": extensions}]}, status_code=status,
                        headers=headers)


class LinearSandbox(LinearState):
    """A faithful stand-in for Linear's GraphQL API (teams, states, issues, sub-issues, attachments)."""

    def routes(self) -> list[Any]:
        return [Route("/graphql", self._endpoint, methods=["POST"])]

    async def _endpoint(self, request: Request) -> JSONResponse:
        auth = request.headers.get("authorization", "")
        bearer = auth.startswith("Bearer ")  # OAuth tokens as Bearer, personal keys bare
        token = auth.removeprefix("Bearer ").strip()
        if token not in self.api_keys or bearer != token.startswith("lin_oauth_"):
            mark_read_only(request)
            return _error(400, "Authentication required, not authenticated", "AUTHENTICATION_ERROR",
                          "authentication error")
        try:
            body = json.loads(await request.body())
            query, variables = body["query"], body.get("variables") or {}
            if not isinstance(query, str) or not isinstance(variables, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            mark_read_only(request)
            return _error(400, "Must provide a JSON body with a query string", "BAD_REQUEST", "invalid input")
        return self._serve(request, query, variables, body.get("operationName"))

    def _serve(self, request: Request, query: str, variables: dict[str, Any],
               name: str | None) -> JSONResponse:
        try:
            document = parse(query)
        except GraphQLError as exc:
            self._note(query, name, [exc.message])
            mark_read_only(request)
            return _error(400, exc.message, "GRAPHQL_PARSE_FAILED", "graphql error")
        problems = validate(self.schema, document)
        operation = get_operation_ast(document, name)
        self._note(query, name, [p.message for p in problems])
        if problems or operation is None:
            mark_read_only(request)
            message = problems[0].message if problems else "Unknown or ambiguous operation name"
            return _error(400, message, "GRAPHQL_VALIDATION_FAILED", "graphql error")
        if operation.operation.value != "mutation":
            mark_read_only(request)
        if self._throttled():
            # The budget comes back when this knob says (after its refusals), and the headers
            # must not claim otherwise: clients pace themselves by them.
            reset = time.time() + (self._throttle_retry_after or 0.05)
            headers = {"X-RateLimit-Requests-Limit": "5000", "X-RateLimit-Requests-Remaining": "0",
                       "X-RateLimit-Requests-Reset": str(int(reset * 1000))}
            if self._throttle_retry_after is not None:
                headers["Retry-After"] = str(self._throttle_retry_after)
            return _error(self._throttle_status, "Rate limit exceeded", "RATELIMITED", "ratelimited", headers)
        with self.lock:
            result = execute_sync(self.schema, document, root_value=Resolvers(self).root(),
                                  variable_values=variables, operation_name=name,
                                  field_resolver=resolve_field)
        payload = result.formatted
        if result.data is None and result.errors and all(e.path is None for e in result.errors):
            for error in payload["errors"]:  # variables that do not fit the schema's input types
                error["extensions"] = {"code": "BAD_USER_INPUT", "type": "invalid input"}
            return JSONResponse(payload, status_code=400)
        return JSONResponse(payload)

    def _note(self, query: str, name: str | None, problems: list[str]) -> None:
        with self.lock:
            self.documents.append({"operation": name, "query": query, "valid": not problems,
                                   "errors": problems})
