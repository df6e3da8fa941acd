"""Exceptions that cross module boundaries, in one hierarchy. Each carries enough to print one clear line.

    SyncdError
    ├── ConfigError            the config is invalid (every problem listed)
    ├── ConnectorTypeError     a connector `type:` not installed or not loading (also a LookupError)
    ├── ServiceError           an external service refused or failed a call
    │   ├── CognyError         Unauthorized, NotFound, InvalidParameter, RateLimited
    │   └── ConnectorError     a target (JIRA, Linear, Asana, Slack, a plugin)
    │       └── RecordGone     the target says the record no longer exists (a person deleted it)
    ├── TicketDataError        a ticket syncd cannot map
    ├── PartialItems           children created before a failure, to be recorded
    ├── SlowBody               a webhook sender did not send its body within the read deadline
    └── StoreError             the store cannot be opened or used
        └── StoreBusy          another process holds the SQLite store
"""

from __future__ import annotations

from typing import Any


class SyncdError(Exception):
    """Base of every error syncd raises on purpose."""


class ConfigError(SyncdError):
    """The config is invalid. `problems` holds one `path: message` line per problem."""

    def __init__(self, problems: list[str], source: str | None = None):
        self.problems = problems
        self.source = source
        where = f" in {source}" if source else ""
        super().__init__(f"invalid config{where}:\n" + "\n".join(f"  {p}" for p in problems))


class ConnectorTypeError(SyncdError, LookupError):
    """No connector class for a `type:`: none registered under that name, or its plugin failed to load."""


class ServiceError(SyncdError):
    """An external service answered with an error, or could not be reached."""

    def __init__(self, service: str, message: str, *, status: int | None = None,
                 code: str | None = None, request_id: str | None = None, retryable: bool = False,
                 unreachable: str | None = None):
        self.service = service
        self.status = status
        self.code = code
        self.request_id = request_id
        self.retryable = retryable
        self.unreachable = unreachable  # "DNS lookup failed" / "connection refused" (syncd.http.unreachable)
        self.message = message
        if unreachable:
            message = f"{message} ({unreachable})"
        bits = [f"{service}:"]
        if status is not None:
            bits.append(f"HTTP {status}")
        if code:
            bits.append(code)
        bits.append(message)
        if request_id:
            bits.append(f"(request_id {request_id})")
        super().__init__(" ".join(bits))


class CognyError(ServiceError):
    """Cogny's error envelope, typed by `code`."""

    def __init__(self, message: str, **kw: object):
        super().__init__("cogny", message, **kw)  # type: ignore[arg-type]


class Unauthorized(CognyError):
    pass


class NotFound(CognyError):
    pass


class InvalidParameter(CognyError):
    pass


class RateLimited(CognyError):
    pass


class ConnectorError(ServiceError):
    """A target (JIRA, Slack, Linear, Asana, plugin) refused or failed a call."""


class RecordGone(ConnectorError):
    """The target answered that a record syncd made no longer exists: a person deleted it.

    Raised by a connector only when it is sure — "not found" *and* the rest of the target is
    still reachable with these credentials — never for an outage or a lost permission, which
    stay ordinary failures. `how` is the notes wording: "deleted in JIRA".
    """

    def __init__(self, service: str, message: str, *, how: str, **kw: Any):
        super().__init__(service, message, **kw)
        self.how = how


class TicketDataError(SyncdError):
    """A ticket from Cogny is missing fields or carries values syncd cannot map."""


class PartialItems(SyncdError):
    """Some child records were created before a failure; `created` must still be recorded.

    `unfinished`: keys of `created` that exist but are not in their desired state yet (e.g. the
    transition to done failed); they are recorded as not applied, so the next reconcile updates
    them instead of creating them again.
    """

    # `created`: action item key -> the child's ExternalRef (typed Any: errors is a leaf module)
    def __init__(self, created: dict[str, Any], cause: Exception,
                 unfinished: frozenset[str] = frozenset()):
        self.created = created
        self.cause = cause
        self.unfinished = unfinished
        super().__init__(str(cause))


class SlowBody(SyncdError):
    """A client did not send its request body within the read deadline (answered 408)."""


class StoreError(SyncdError):
    """The store cannot be opened or used (bad URL, locked, unreachable, not migrated)."""


class StoreBusy(StoreError):
    """Another syncd process holds this SQLite store (`<db>.lock`)."""
