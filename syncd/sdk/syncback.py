"""What a target says about progress: the vocabulary sync-back speaks with connectors.

A connector that can carry progress back (`sync_back: true`) implements `SyncBackSource`:
a batched read of linked records (`read_states`) and the parsing of the target's own webhook
deliveries (`parse_webhook`). Both answer in the terms below, never in vendor terms, so the
engine (syncd.engine.syncback) decides the same way for JIRA, Linear and Asana.

Below them, the small pieces the three built-in sources share (signature checks, timestamps,
JSON bodies) and `SyncsBack`, the mixin that gives a connector its sync-back methods.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal, Mapping, Protocol, Sequence, get_args, runtime_checkable

from syncd.sdk.connector import ExternalRef
from syncd.signatures import hmac_hex_matches

# todo: not started (JIRA "To Do", Linear backlog/unstarted/triage, Asana incomplete)
# in_progress: started (JIRA "In Progress" category, Linear started)
# done: finished (JIRA done category with a "done" resolution, Linear completed, Asana completed)
# canceled: closed without doing it (JIRA done category with a resolution such as "Won't Do",
#           Linear canceled)
# deleted: the record is gone (Asana task deleted; a 404 on a read)
Category = Literal["todo", "in_progress", "done", "canceled", "deleted"]
CATEGORIES: tuple[Category, ...] = get_args(Category)


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

    def read_states(self, refs: Sequence[ExternalRef],
                    since: datetime | None = None) -> dict[str, RemoteState]:
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


# -- helpers shared by sync-back sources ------------------------------------------------------------
def signed_json(body: bytes, given: str, secrets: Sequence[str],
                header: str) -> tuple[dict[str, Any] | None, str]:
    """The body as a JSON object when `given` (the `header` value) is its hex HMAC under one of
    `secrets`; otherwise None and the reason, which never contains a secret."""
    if not [s for s in secrets if s]:
        return None, "no webhook secret is configured or stored for this connector"
    if not given:
        return None, f"missing {header} header"
    if not hmac_hex_matches(body, given, secrets):
        return None, f"{header} does not match"
    payload = json_object(body)
    return (payload, "") if payload is not None else (None, "body is not a JSON object")


def parse_time(value: Any) -> datetime | None:
    """An aware datetime from the vendors' stamps (`…Z`, `…+00:00`, JIRA's `…+0000`); None if
    unreadable."""
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():  # +0000 -> +00:00
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def latest(*moments: datetime | None) -> datetime | None:
    known = [m for m in moments if m is not None]
    return max(known) if known else None


def json_object(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, or None."""
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


class SyncsBack:
    """Mixin for a connector that carries progress back: `read_states` and `parse_webhook`
    delegate to one source object per connector, built on first use (`_new_sync_back_source`).

    One per connector, not per call: Asana's source keeps its events-stream position and what
    it learned about subtasks between polls.
    """

    _sync_back_lock = threading.Lock()
    # Rendered keys that say "how far along" (record keys, item keys): sync-back marks them as
    # already applied when the target itself showed the change, so it is not written back.
    progress_keys: tuple[tuple[str, ...], tuple[str, ...]] = (("status",), ("completed",))

    def _new_sync_back_source(self) -> SyncBackSource:
        """This connector's source, built once (each connector overrides it)."""
        raise NotImplementedError

    @property
    def sync_back_source(self) -> SyncBackSource:
        """The connector's one source object, built on first use."""
        source = self.__dict__.get("_sync_back_source")
        if source is None:
            with SyncsBack._sync_back_lock:
                source = self.__dict__.get("_sync_back_source")
                if source is None:
                    source = self.__dict__["_sync_back_source"] = self._new_sync_back_source()
        return source

    def read_states(self, refs: Sequence[ExternalRef],
                    since: datetime | None = None) -> dict[str, RemoteState]:
        return self.sync_back_source.read_states(refs, since)

    def parse_webhook(self, body: bytes, headers: Mapping[str, str], secrets: Sequence[str],
                      tolerance_seconds: int) -> Delivery:
        return self.sync_back_source.parse_webhook(body, headers, secrets, tolerance_seconds)
