"""What a target says about progress: the vocabulary sync-back speaks with connectors.

A connector that can carry progress back (`sync_back: true`) implements `SyncBackSource`:
a batched read of linked records (`read_states`) and the parsing of the target's own webhook
deliveries (`parse_webhook`). Both answer in the terms below, never in vendor terms, so the
engine (syncd.syncback) decides the same way for JIRA, Linear and Asana.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Mapping, Protocol, Sequence, runtime_checkable

from syncd.connector import ExternalRef

# todo: not started (JIRA "To Do", Linear backlog/unstarted/triage, Asana incomplete)
# in_progress: started (JIRA "In Progress" category, Linear started)
# done: finished (JIRA done category with a "done" resolution, Linear completed, Asana completed)
# canceled: closed without doing it (JIRA done category with a resolution such as "Won't Do",
#           Linear canceled)
# deleted: the record is gone (Asana task deleted; a 404 on a read)
Category = Literal["todo", "in_progress", "done", "canceled", "deleted"]
CATEGORIES: tuple[str, ...] = ("todo", "in_progress", "done", "canceled", "deleted")


@dataclass(frozen=True)
class RemoteState:
    """One linked parent record as the target shows it now, with its child records."""

    external_id: str                    # as stored in links.external_id
    category: Category
    updated_at: datetime | None = None  # the target's last-modified time (timezone-aware)
    items: Mapping[str, Category] = field(default_factory=dict)  # child external id -> category
    detail: str = ""                    # vendor wording for logs, e.g. "Done (resolution Won't Do)"


@dataclass(frozen=True)
class Delivery:
    """One webhook request from a target, verified and reduced to the records it names."""

    ok: bool                            # signature (or handshake) verified
    delivery_id: str = ""               # unique per delivery; a replay is recognised by it
    record_ids: Sequence[str] = ()      # external ids of parents or children that changed
    handshake_secret: str | None = None # Asana: store this secret and echo it in X-Hook-Secret
    reason: str = ""                    # why it was rejected (never contains a secret)
    stale: bool = False                 # signed, but older than the tolerance (a replay)


@runtime_checkable
class SyncBackSource(Protocol):
    """What a connector implements to carry progress back into Cogny."""

    def read_states(self, refs: Sequence[ExternalRef], since: datetime | None = None) -> dict[str, RemoteState]:
        """Read the given parent records (and their children) in as few calls as the API allows.

        Keyed by `ref.id`. A record that no longer exists comes back with category `deleted`
        when the target says so reliably; a record the read could not see is simply absent.
        `since` (a poll's previous start) lets a target that lists by modification time (Asana's
        `modified_since`) return only what changed; `None` means "read these now" (a webhook).
        A poll passes the same `since` to each of its batches: a source may fetch its change feed
        once per distinct `since` and keep what it learned for the batches that follow (Asana does).
        """

    def parse_webhook(self, body: bytes, headers: Mapping[str, str], secrets: Sequence[str],
                      tolerance_seconds: int) -> Delivery:
        """Verify one delivery (`headers` keys are lower-case) and name the records it concerns."""
