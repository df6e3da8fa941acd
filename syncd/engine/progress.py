"""The sync-back rules: given what a target shows now, what should change in the Cogny ticket?

Pure functions, no I/O; syncd.syncback reads, decides here, then writes.

The rules, in order (README "Sync-back" documents them for users):

1. Cogny's dismissal is final: a dismissed ticket is never changed.
2. Only news counts: a record is compared with how it looked when syncd last read it, so a
   change syncd made itself (or an old state) is not carried back. A record seen for the first
   time carries only progress (done), never a step back.
3. A child record done → its action item `completed: true`; reopened → `completed: false`.
4. The parent's state category goes through `sync_back.status_map` (default: in_progress →
   in_progress, done → completed, canceled/deleted → dismissed). A record reopened after done
   (back to todo) moves a completed ticket to in_progress.
5. Cogny's "Track completion" rule: every action item completed → completed; some progress on
   an open ticket, or an item reopened on a completed one → in_progress.
6. A conflict (Cogny's status also changed since the last read, to something else) goes to the
   newer side by `updated_at`, and is logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Mapping

from syncd.models import Ticket
from syncd.sdk.syncback import Category, RemoteState
from syncd.store.observed import Observed

CLOSED = ("done", "canceled", "deleted")


@dataclass
class Plan:
    """What to write to Cogny: a status (or a dismissal) and action items by title."""

    status: str | None = None
    dismiss: bool = False
    items: dict[str, bool] = field(default_factory=dict)
    conflict: str | None = None  # set when both sides changed; says who won
    why: list[str] = field(default_factory=list)
    from_parent: bool = False  # the status is what the parent record itself shows (not derived from items)

    @property
    def empty(self) -> bool:
        return self.status is None and not self.dismiss and not self.items


def is_news(before: Observed | None, now: RemoteState) -> bool:
    """Whether the record changed since syncd last read it (or was never read)."""
    return before is None or before.category != now.category or before.items != dict(now.items)


def decide(ticket: Ticket, before: Observed | None, now: RemoteState, item_keys: Mapping[str, str],
           status_map: Mapping[Category, str]) -> Plan:
    plan = Plan()
    if ticket.status == "dismissed":
        plan.why.append("dismissed in Cogny: final")
        return plan
    plan.items = _item_changes(ticket, before, now, item_keys)
    completed = {i.title: plan.items.get(i.title, i.completed) for i in ticket.action_items}
    shown = _parent_status(ticket, before, now, status_map, plan)
    wanted = _track_completion(ticket, shown, completed, plan)
    plan.from_parent = wanted is not None and wanted == shown
    if wanted == "dismissed":
        plan.dismiss = True
    elif wanted is not None and wanted != ticket.status:
        plan.status = wanted
    if (plan.status or plan.dismiss) and _cogny_moved(ticket, before):
        _resolve_conflict(ticket, now, plan)
    return plan


def _item_changes(ticket: Ticket, before: Observed | None, now: RemoteState,
                  item_keys: Mapping[str, str]) -> dict[str, bool]:
    current = {i.title: i.completed for i in ticket.action_items}
    changes: dict[str, bool] = {}
    for child_id, category in now.items.items():
        title = item_keys.get(child_id)
        if title is None or title not in current:
            continue  # a child syncd did not make, or an item Cogny no longer has
        if before is not None and before.items.get(child_id) == category:
            continue  # not news
        done = category == "done"
        if (before is None or child_id not in before.items) and not done:
            continue  # first sight: only progress counts
        if current[title] != done:
            changes[title] = done
    return changes


def _parent_status(ticket: Ticket, before: Observed | None, now: RemoteState,
                   status_map: Mapping[Category, str], plan: Plan) -> str | None:
    if before is not None and before.category == now.category:
        return None
    if before is None and now.category in ("todo", "in_progress") and ticket.status != "open":
        return None  # first sight: no step back
    if (
        now.category == "todo"
        and before is not None
        and before.category in CLOSED
        and ticket.status == "completed"
    ):
        plan.why.append(f"reopened in the target ({before.category} → todo)")
        return "in_progress"
    wanted = status_map.get(now.category)
    if wanted:
        plan.why.append(f"target {now.category}" + (f" ({now.detail})" if now.detail else ""))
    return wanted


def _track_completion(
    ticket: Ticket, wanted: str | None, completed: Mapping[str, bool], plan: Plan
) -> str | None:
    if not plan.items or wanted == "dismissed":
        return wanted
    if completed and all(completed.values()):
        plan.why.append("every action item completed")
        return "completed"
    if (wanted or ticket.status) == "completed" and False in plan.items.values():
        # an item reopened: the work is not done, whatever the parent shows (maybe syncd's own close)
        plan.why.append("an action item reopened")
        return "in_progress"
    if wanted is None and ticket.status in ("open", "completed"):
        plan.why.append("action items in progress")
        return "in_progress"
    return wanted


def _cogny_moved(ticket: Ticket, before: Observed | None) -> bool:
    return bool(before and before.cogny_status and before.cogny_status != ticket.status)


def _resolve_conflict(ticket: Ticket, now: RemoteState, plan: Plan) -> None:
    ours, theirs = _parse(ticket.updated_at), now.updated_at
    target_newer = ours is None or (theirs is not None and theirs > ours)
    wanted = "dismissed" if plan.dismiss else plan.status
    if target_newer:
        plan.conflict = (
            f"both changed; the target is newer ({theirs} > {ticket.updated_at}): {ticket.status} → {wanted}"
        )
        return
    plan.conflict = f"both changed; Cogny is newer ({ticket.updated_at} ≥ {theirs}): keeps {ticket.status}"
    plan.status, plan.dismiss = None, False


def _parse(stamp: str | None) -> datetime | None:
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
