"""The engine's vocabulary: what happened to a ticket in each target, and what Cogny must offer.

An `Outcome` per (ticket, connector) and a `TicketResult` per ticket are what every step of a
poll hands up to the report; `CognyAPI` is the part of the Cogny client the engine uses
(`syncd.cogny.CognyClient` in production, `syncd.testing.InMemoryCogny` in tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Literal, Protocol

from syncd.sdk import ExternalRef

# gone: a person deleted the record in the target; syncd leaves it so (docs/design.md, "gone records")
Action = Literal["created", "updated", "unchanged", "gone", "failed",
                 "would-create", "would-update", "would-adopt", "would-recreate"]
APPLIED: tuple[Action, ...] = ("created", "updated", "unchanged", "failed")  # a run's counted actions


@dataclass
class Outcome:
    """What one reconcile did (or, in a dry run, would do) to one ticket's record in one target."""

    connector: str
    action: Action
    ref: ExternalRef | None = None
    error: str | None = None
    reason: str = ""


@dataclass
class TicketResult:
    ticket_id: str
    outcomes: list[Outcome] = field(default_factory=list)
    notes_written: bool = False
    notes_planned: bool = False
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None or any(o.action == "failed" for o in self.outcomes)


class Page(Protocol):
    items: list[dict[str, Any]]
    total_count: int | None


class CognyAPI(Protocol):
    """The calls the engine makes to Cogny: list pages, read one ticket, write its notes, dismiss it."""

    def pages(self, *, limit: int = ..., **filters: Any) -> Iterator[Any]: ...

    def get_ticket(self, ticket_id: str) -> dict[str, Any]: ...

    def update_ticket(self, ticket_id: str, **fields: Any) -> dict[str, Any]: ...

    def dismiss(self, ticket_id: str, reason: str, notes: str | None = None) -> dict[str, Any]: ...
