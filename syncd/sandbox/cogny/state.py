"""The Cogny sandbox's state: tickets and webhook subscriptions, and how a change to a ticket shows.

State is plain dicts guarded by `self.lock`. `CognyState` holds it: a change bumps `updated_at`
and fires the documented events to the subscriptions that asked for them (delivered by
hooks.py), and a change that changes nothing does neither. The HTTP face on top is
`CognySandbox` (sandbox.py); tests change tickets "as a person in Cogny would" through the
thread-safe helpers below.
"""

from __future__ import annotations

import copy
import secrets
from datetime import datetime, timezone
from typing import Any, Self

from syncd.sandbox._common.base import Sandbox
from syncd.sandbox._common.ratelimit import FixedWindow
from syncd.sandbox._common.tickets import iso
from syncd.sandbox.cogny.hooks import TICKET_EVENTS, Deliverer

DEFAULT_KEYS = {"sk_test_sandbox": "standard"}


def _now() -> datetime:
    return datetime.now(timezone.utc)


class CognyState(Sandbox):
    """The tickets and webhook subscriptions of one Cogny account; `CognySandbox` serves them."""

    name = "cogny"

    def __init__(self, tickets: list[dict[str, Any]] | None = None, *, api_keys: dict[str, str] | None = None,
                 rate_limit: int | None = None, rate_window: float = 60.0,
                 batch_rate_limit: int | None = None, app_url: str = "https://app.cogny.com") -> None:
        super().__init__()
        self.api_keys = dict(api_keys or DEFAULT_KEYS)  # key -> tier name (informational)
        self.app_url = app_url
        self.tickets: dict[str, dict[str, Any]] = {t["id"]: self._complete(t) for t in tickets or []}
        self.webhooks: dict[str, dict[str, Any]] = {}
        self._limits = FixedWindow(rate_limit, rate_window) if rate_limit is not None else None
        self._batch_limits = (FixedWindow(batch_rate_limit, rate_window) if batch_rate_limit is not None
                              else None)
        self._deliverer = Deliverer()

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Self:
        self._deliverer.start()
        super().start(host, port)
        return self

    def stop(self) -> None:
        super().stop()
        self._deliverer.stop()

    # -- Python helpers (tests, demo) ------------------------------------------------------------

    def add_ticket(self, ticket: dict[str, Any]) -> dict[str, Any]:
        """Add a ticket as if Cogny had just generated it; emits `ticket.created`."""
        full = self._complete(ticket)
        with self.lock:
            if full["id"] in self.tickets:
                raise ValueError(f"ticket {full['id']} already exists")
            self.tickets[full["id"]] = full
            self.emit("ticket.created", full)
            return copy.deepcopy(full)

    def ticket(self, ticket_id: str) -> dict[str, Any]:
        """A deep copy of one ticket in its full form (KeyError if unknown)."""
        with self.lock:
            return copy.deepcopy(self.tickets[ticket_id])

    def edit_ticket(self, ticket_id: str, **changes: Any) -> dict[str, Any]:
        """Change any fields as a person in the Cogny app would; bumps updated_at, emits events."""
        changed_by = changes.pop("changed_by", "user_sandbox")
        with self.lock:
            if ticket_id not in self.tickets:
                raise KeyError(ticket_id)
            if changes.get("id", ticket_id) != ticket_id:
                raise ValueError("a ticket's id cannot change")
            return copy.deepcopy(self.commit(ticket_id, changes, changed_by))

    def subscribe(self, url: str, secret: str, events: list[str] | None = None) -> dict[str, Any]:
        """Register a webhook subscription (all ticket events by default); returns it without the secret."""
        sub: dict[str, Any] = {"id": f"wh_sub_{secrets.token_hex(6)}", "url": url,
                               "events": list(events or TICKET_EVENTS), "active": True,
                               "created_at": iso(_now())}
        with self.lock:
            self.webhooks[sub["id"]] = {**sub, "secret": secret}
        return sub

    @property
    def deliveries(self) -> list[dict[str, Any]]:
        """Finished webhook deliveries: event, event_id, url, status (None: no answer), attempts, payload."""
        return self._deliverer.wait(0, 0)

    def wait_for_deliveries(self, n: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Block until `n` deliveries finished or `timeout` passed; returns all deliveries so far."""
        return self._deliverer.wait(n, timeout)

    # -- state changes (callers hold self.lock) -----------------------------------------------------

    def stamp(self) -> str:
        """Now, as Cogny stamps tickets, events and answers (tests shift this clock by patching `_now`)."""
        return iso(_now())

    def commit(self, ticket_id: str, changes: dict[str, Any], changed_by: str) -> dict[str, Any]:
        """Apply whole-field `changes`; on a real change bump updated_at and emit the events.

        A no-op change leaves updated_at alone and fires nothing, so syncd's own write-back
        does not echo back to it forever.
        """
        ticket = self.tickets[ticket_id]
        before = copy.deepcopy(ticket)
        ticket.update(copy.deepcopy(changes))
        if ticket == before:
            return ticket
        now = iso(_now())
        if before["status"] != "dismissed" and ticket["status"] == "dismissed":
            ticket.setdefault("dismissed_at", now)
            ticket.setdefault("dismiss_reason", None)
        elif ticket["status"] != "dismissed":
            ticket.pop("dismissed_at", None)
            ticket.pop("dismiss_reason", None)
        ticket["updated_at"] = now
        extra = {"changed_by": changed_by}
        self.emit("ticket.updated", ticket, extra)
        if before["status"] != ticket["status"]:
            extra = {"previous_status": before["status"], "new_status": ticket["status"], **extra}
            self.emit("ticket.status_changed", ticket, extra)
            if ticket["status"] in ("completed", "dismissed"):
                self.emit(f"ticket.{ticket['status']}", ticket, extra)
        return ticket

    def emit(self, event_type: str, ticket: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
        """Queue `event_type` for every subscription that asked for it."""
        event = {
            "id": f"evt_{secrets.token_hex(8)}",
            "type": event_type,
            "created_at": iso(_now()),
            "data": {"ticket_id": ticket["id"], "warehouse_id": ticket.get("warehouse_id"), **(extra or {}),
                     "ticket": {k: ticket.get(k) for k in ("title", "priority", "category")}},
        }
        with self.lock:
            targets = [s for s in self.webhooks.values() if s["active"] and event_type in s["events"]]
        for sub in targets:
            self._deliverer.submit(sub["url"], sub["secret"], event)

    def _complete(self, ticket: dict[str, Any]) -> dict[str, Any]:
        """A deep copy with the fields every stored ticket has (tests may pass partial tickets)."""
        full = copy.deepcopy(ticket)
        if "id" not in full:
            full["id"] = f"tkt_{secrets.token_hex(4)}"
        stamp = iso(_now())
        defaults: dict[str, Any] = {
            "warehouse_id": "wh_123abc", "status": "open", "priority": "medium",
            "category": "conversion_optimization", "title": "", "description": "", "action_items": [],
            "notes": "", "assignee": None, "created_at": stamp, "url": f"{self.app_url}/tickets/{full['id']}"}
        for key, value in defaults.items():
            full.setdefault(key, value)
        full.setdefault("updated_at", full["created_at"])
        return full
