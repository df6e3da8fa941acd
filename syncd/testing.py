"""In-memory stand-ins for tests: a target (`InMemoryConnector`) and Cogny (`InMemoryCogny`).

A plugin author tests a connector with the real engine and no network: `InMemoryCogny` takes the
place of the Cogny client (`Reconciler(store, cogny, {...})`, `run_cycle(..., cogny)`), and
`InMemoryConnector` is a complete target whose records live in a dict, for tests of routing,
templates or the engine itself. Both keep every call in `calls`, so a test can assert what was
read and written, and both can be told to fail (`fail`), so error paths are testable too.

They behave like the real thing where the engine can tell: a record is found by its marker (the
ticket id) and the oldest one wins; Cogny's listing omits `notes` and `assignee`, a PATCH replaces
`notes` whole and bumps `updated_at` only on a real change, an unknown ticket is `NotFound`, and
an id that is not of Cogny's shape is refused before anything happens. Both may be shared by a
cycle's worker threads.
"""

from __future__ import annotations

import copy
import itertools
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, ClassVar, Iterable, Iterator, Mapping

from pydantic import BaseModel, ConfigDict

from syncd.cogny import Page, ticket_path
from syncd.errors import CognyError, ConnectorError, InvalidParameter, NotFound, PartialItems, RecordGone
from syncd.http import RetryPolicy
from syncd.models import Ticket
from syncd.sdk import Check, Desired, ExternalRef

__all__ = ["Call", "InMemoryCogny", "InMemoryConnector", "InMemorySettings", "Page", "Record"]

WRITES = frozenset({"create", "update", "create_item", "update_item", "update_ticket", "dismiss"})
DISMISS_REASONS = ("not_applicable", "already_implemented", "insufficient_impact", "resource_constraints",
                   "other")
PATCHABLE = ("status", "priority", "assignee", "notes", "action_items")
LIST_OMITS = ("notes", "assignee")  # Cogny's listing leaves these out; GET returns them


@dataclass(frozen=True)
class Call:
    """One call a test can assert on: the method and what it was about (a ticket or record id)."""

    method: str
    subject: str = ""


class _Recorder:
    """Calls kept in order, and failures queued per method (`fail`)."""

    service = "memory"

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.lock = threading.RLock()
        self._fates: dict[str, list[Exception | None]] = {}  # method -> what its next calls do

    def fail(self, method: str, *, times: int = 1, after: int = 0, error: Exception | None = None) -> None:
        """Let the next `after` calls of `method` pass, then make `times` of them raise `error`.

        The default error is the one the engine sees from a real service that refused the call.
        """
        with self.lock:
            fates = self._fates.setdefault(method, [])
            fates.extend([None] * (after + times - len(fates)))
            for n in range(after, after + times):
                fates[n] = error or self._error(f"{method} failed (as the test asked)")

    def called(self, method: str) -> list[str]:
        """The subjects of every call of `method`, in order."""
        return [c.subject for c in self.calls if c.method == method]

    def writes(self) -> list[Call]:
        """The calls that change something (a test of "nothing to do" expects none)."""
        return [c for c in self.calls if c.method in WRITES]

    def _record(self, method: str, subject: str = "") -> None:
        """Note the call, then raise if a failure is due for it."""
        with self.lock:
            self.calls.append(Call(method, subject))
            fates = self._fates.get(method)
            error = fates.pop(0) if fates else None
        if error is not None:
            raise error

    def _error(self, message: str) -> Exception:
        return ConnectorError(self.service, message)


# -- the target ------------------------------------------------------------------------------------

class InMemorySettings(BaseModel):
    """The in-memory target's settings: where its records' links point (never fetched)."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = "https://memory.example/records"


@dataclass
class Record:
    """A record in the in-memory target: its marker (a ticket id), its fields and its children by key."""

    id: str
    marker: str
    fields: dict[str, Any]
    children: dict[str, dict[str, Any]] = field(default_factory=dict)


class InMemoryConnector(_Recorder):
    """A complete `syncd.sdk.Connector` whose records are kept in `records` (id -> `Record`).

    `render` is deliberately plain (title, status, priority; one child per action item with its
    `completed`); subclass and override it to try a rendering of your own. `render` is pure, so
    it is not recorded; every other method is, as `Call(method, subject)`.
    """

    Settings: ClassVar[type[BaseModel]] = InMemorySettings  # first: below, `type` is the attribute
    type: ClassVar[str] = "memory"
    label: ClassVar[str] = "Memory"

    def __init__(self, name: str = "memory", settings: InMemorySettings | None = None, *,
                 policy: RetryPolicy | None = None) -> None:
        super().__init__()
        self.name = name
        self.service = name
        self.settings = settings or InMemorySettings()
        self.records: dict[str, Record] = {}
        self.deleted: set[str] = set()  # ids of records (and `parent/key` children) people deleted
        self._numbers = itertools.count(1)  # record ids are never reused, as in a real target
        self.closed = False

    def render(self, ticket: Ticket) -> Desired:
        return Desired({"title": ticket.title, "status": ticket.status, "priority": ticket.priority},
                       {i.title: {"title": i.title, "completed": i.completed} for i in ticket.action_items})

    def find(self, ticket: Ticket) -> ExternalRef | None:
        """The oldest record whose marker is exactly this ticket's id."""
        self._record("find", ticket.id)
        with self.lock:
            found = [r for r in self.records.values() if r.marker == ticket.id]
        return self._ref(found[0]) if found else None

    def create(self, ticket: Ticket, desired: Desired) -> ExternalRef:
        self._record("create", ticket.id)
        with self.lock:
            record = Record(f"M-{next(self._numbers)}", ticket.id, copy.deepcopy(desired.record))
            self.records[record.id] = record
        return self._ref(record)

    def update(self, ref: ExternalRef, ticket: Ticket, desired: Desired,
               previous: Desired | None) -> ExternalRef:
        """Replace the record's fields; answers with its link as it is now (`settings.base_url` may move)."""
        self._record("update", ref.id)
        with self.lock:
            record = self._get(ref.id)
            record.fields = copy.deepcopy(desired.record)
        return self._ref(record)

    def find_items(self, ref: ExternalRef) -> dict[str, ExternalRef]:
        self._record("find_items", ref.id)
        with self.lock:
            return {key: self._child_ref(ref.id, key) for key in self._get(ref.id).children}

    def create_items(self, ref: ExternalRef, ticket: Ticket, items: dict[str, dict[str, Any]]
                     ) -> dict[str, ExternalRef]:
        """One `create_item` call per child; a failure reports the children made before it."""
        made: dict[str, ExternalRef] = {}
        for key, item in items.items():
            try:
                self._record("create_item", f"{ref.id}/{key}")
            except Exception as exc:
                raise PartialItems(made, exc) from None
            with self.lock:
                self._get(ref.id).children[key] = copy.deepcopy(item)
            made[key] = self._child_ref(ref.id, key)
        return made

    def update_item(self, ref: ExternalRef, item_ref: ExternalRef, item: dict[str, Any],
                    previous: dict[str, Any] | None) -> None:
        self._record("update_item", item_ref.id)
        parent, _, key = item_ref.id.partition("/")
        with self.lock:
            record = self._get(parent)
            if item_ref.id in self.deleted:
                raise RecordGone(
                    self.service, f"no child record {item_ref.id}", how=f"deleted in {self.label}"
                )
            if key not in record.children:
                raise self._error(f"no child record {item_ref.id}")
            record.children[key] = copy.deepcopy(item)

    def check(self) -> list[Check]:
        self._record("check")
        return [Check(f"{self.name}: in-memory target", True, f"{len(self.records)} record(s)")]

    def close(self) -> None:
        self._record("close")
        self.closed = True

    # -- what people do in the target --------------------------------------------------------
    def delete(self, record_id: str, key: str | None = None) -> None:
        """Delete a record (or only its child `key`) as a person would: later writes to it raise
        `RecordGone`, as a real target's "no such record" answer does."""
        with self.lock:
            if key is None:
                del self.records[record_id]
                self.deleted.add(record_id)
            else:
                del self.records[record_id].children[key]
                self.deleted.add(f"{record_id}/{key}")

    # -- for assertions ----------------------------------------------------------------------
    def records_of(self, ticket_id: str) -> list[Record]:
        """Every record carrying `ticket_id`'s marker, oldest first (more than one is a duplicate)."""
        with self.lock:
            return [r for r in self.records.values() if r.marker == ticket_id]

    def _get(self, record_id: str) -> Record:
        if record_id in self.deleted:
            raise RecordGone(self.service, f"no record {record_id}", how=f"deleted in {self.label}")
        if record_id not in self.records:
            raise self._error(f"no record {record_id}")
        return self.records[record_id]

    def _ref(self, record: Record) -> ExternalRef:
        return ExternalRef(record.id, record.id, f"{self.settings.base_url}/{record.id}")

    def _child_ref(self, record_id: str, key: str) -> ExternalRef:
        return ExternalRef(f"{record_id}/{key}")


# -- Cogny ------------------------------------------------------------------------------------------

def _now() -> datetime:
    return datetime.now(timezone.utc)


def _stamp(moment: datetime) -> str:
    """Cogny's timestamps: UTC, whole seconds."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class InMemoryCogny(_Recorder):
    """The part of the Cogny client the engine uses, over tickets kept in `tickets` (id -> GET form).

    `add` takes a ticket (a `Ticket`, or a dict of which only `id` is required: the rest gets
    Cogny's defaults); `ticket` reads one back as a `Ticket` and `edit` changes one as a person
    would. `clock` sets the time written into `updated_at`.
    """

    service = "cogny"

    def __init__(self, tickets: Iterable[Ticket | Mapping[str, Any]] = (), *,
                 clock: Callable[[], datetime] = _now) -> None:
        super().__init__()
        self.clock = clock
        self.tickets: dict[str, dict[str, Any]] = {}
        for ticket in tickets:
            self.add(ticket)

    # -- what a test does --------------------------------------------------------------------
    def add(self, ticket: Ticket | Mapping[str, Any]) -> Ticket:
        """Store `ticket` as Cogny would (its missing fields filled in); returns it as a GET shows it."""
        raw = ticket.model_dump(mode="json") if isinstance(ticket, Ticket) else copy.deepcopy(dict(ticket))
        full = self._complete(raw)
        with self.lock:
            self.tickets[full["id"]] = full
        return Ticket.parse(copy.deepcopy(full))

    def ticket(self, ticket_id: str) -> Ticket:
        """The ticket as `GET /tickets/{id}` returns it (not recorded as a call)."""
        with self.lock:
            return Ticket.parse(copy.deepcopy(self._find(ticket_id)))

    def listed(self, ticket_id: str) -> Ticket:
        """The ticket as a listing shows it: without `notes` and `assignee`."""
        with self.lock:
            raw = {k: copy.deepcopy(v) for k, v in self._find(ticket_id).items() if k not in LIST_OMITS}
        return Ticket.parse(raw)

    def edit(self, ticket_id: str, **changes: Any) -> Ticket:
        """Change a ticket as someone in Cogny would (not recorded as a call)."""
        with self.lock:
            return Ticket.parse(copy.deepcopy(self._commit(ticket_id, changes)))

    # -- what the engine calls ---------------------------------------------------------------
    def list_page(self, *, cursor: str | None = None, limit: int = 100, **filters: Any) -> Page:
        """One page, newest first (Cogny's default order); `cursor` is the id the last page ended with."""
        self._record("list_page", cursor or "")
        with self.lock:
            rows = sorted((t for t in self.tickets.values() if _matches(t, filters)),
                          key=lambda t: (t["created_at"], t["id"]), reverse=True)
            ids = [t["id"] for t in rows]
            if cursor is not None and cursor not in ids:
                raise _invalid("Invalid or expired pagination cursor")
            start = ids.index(cursor) + 1 if cursor is not None else 0
            page = rows[start:start + limit]
            items = [{k: copy.deepcopy(v) for k, v in t.items() if k not in LIST_OMITS} for t in page]
        more = start + limit < len(rows)
        return Page(items, more, page[-1]["id"] if more else None, len(rows))

    def pages(self, *, limit: int = 100, **filters: Any) -> Iterator[Page]:
        """Every page of a listing, following `next_cursor`."""
        cursor: str | None = None
        for _ in range(len(self.tickets) + 1):  # bounded: each page ends further down the list
            page = self.list_page(cursor=cursor, limit=limit, **filters)
            yield page
            if not page.has_more:
                return
            cursor = page.next_cursor

    def get_ticket(self, ticket_id: str) -> dict[str, Any]:
        self._record("get_ticket", ticket_id)
        with self.lock:
            return copy.deepcopy(self._find(ticket_id))

    def update_ticket(self, ticket_id: str, **fields: Any) -> dict[str, Any]:
        """PATCH: `notes` is replaced whole; action items are matched by title."""
        self._record("update_ticket", ticket_id)
        unknown = sorted(set(fields) - set(PATCHABLE))
        if unknown or not fields:
            raise _invalid(f"cannot update {unknown or 'nothing'} (allowed: {', '.join(PATCHABLE)})")
        with self.lock:
            ticket = self._commit(ticket_id, _changes(self._find(ticket_id), fields))
            return {k: copy.deepcopy(ticket.get(k)) for k in ("id", "status", "priority", "assignee", "notes",
                                                               "updated_at")}

    def dismiss(self, ticket_id: str, reason: str, notes: str | None = None) -> dict[str, Any]:
        self._record("dismiss", ticket_id)
        if reason not in DISMISS_REASONS:
            raise _invalid(f"'reason' must be one of {', '.join(DISMISS_REASONS)}")
        changes: dict[str, Any] = {"status": "dismissed", "dismiss_reason": reason}
        if notes is not None:
            changes["notes"] = notes
        with self.lock:
            ticket = self._commit(ticket_id, changes)
            return {k: ticket.get(k) for k in ("id", "status", "dismissed_at", "dismiss_reason", "notes")}

    def close(self) -> None:
        self._record("close")

    # -- plumbing ----------------------------------------------------------------------------
    def _error(self, message: str) -> Exception:
        return CognyError(message, status=503, retryable=True)  # what a failing Cogny looks like

    def _find(self, ticket_id: str) -> dict[str, Any]:
        ticket_path(ticket_id)  # refuses a malformed id as the real client does, before anything happens
        if ticket_id not in self.tickets:
            raise NotFound(f"Ticket {ticket_id} not found", status=404, code="NOT_FOUND")
        return self.tickets[ticket_id]

    def _commit(self, ticket_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Apply whole-field changes; `updated_at` moves only when something really changed."""
        ticket = self._find(ticket_id)
        before = copy.deepcopy(ticket)
        ticket.update(copy.deepcopy(dict(changes)))
        if ticket != before:
            now = _stamp(self.clock())
            if ticket["status"] == "dismissed":
                ticket.setdefault("dismissed_at", now)
            ticket["updated_at"] = now
        return ticket

    def _complete(self, raw: dict[str, Any]) -> dict[str, Any]:
        """A ticket with every field a GET returns; Cogny's defaults for the ones a test left out."""
        if not isinstance(raw.get("id"), str):
            raise ValueError("a ticket needs an `id` such as 'tkt_1'")
        # None says "not given" (a listing's notes, a Ticket's unset stamps), except where it is a value
        raw = {k: v for k, v in raw.items() if v is not None or k in ("assignee", "related_report_id")}
        stamp = _stamp(self.clock())
        full: dict[str, Any] = {
            "id": raw["id"], "warehouse_id": "wh_test", "title": f"Ticket {raw['id']}", "description": "",
            "category": "conversion_optimization", "priority": "medium", "status": "open", "effort": "",
            "estimated_impact": {}, "action_items": [], "supporting_data": {}, "related_report_id": None,
            "created_at": stamp, "url": f"https://app.cogny.com/tickets/{raw['id']}", "notes": "",
            "assignee": None, **raw}
        full.setdefault("updated_at", full["created_at"])
        full["action_items"] = [{"description": "", "estimated_hours": None, "completed": False, **item}
                                for item in full["action_items"]]
        return full


def _matches(ticket: Mapping[str, Any], filters: Mapping[str, Any]) -> bool:
    """Cogny's listing filters: one value or a list per field; `*_after` inclusive, `*_before` not."""
    for name, wanted in filters.items():
        if wanted in (None, "", [], ()):
            continue
        if name.endswith(("_after", "_before")):
            moment = str(ticket.get(name.rsplit("_", 1)[0] + "_at") or "")
            if (moment < wanted) if name.endswith("_after") else (moment >= wanted):
                return False
        elif ticket.get(name) not in ([wanted] if isinstance(wanted, str) else list(wanted)):
            return False
    return True


def _changes(ticket: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """Whole-field changes for a PATCH; action items have no ids, so they are matched by title."""
    if "notes" in fields and not isinstance(fields["notes"], str):
        raise _invalid("'notes' must be a string")
    changes = {k: v for k, v in fields.items() if k != "action_items"}
    if "action_items" in fields:
        items = copy.deepcopy(ticket.get("action_items") or [])
        by_title = {item["title"]: item for item in items}
        for entry in fields["action_items"]:
            if entry["title"] not in by_title:
                raise _invalid(f"No action item titled '{entry['title']}'")
            by_title[entry["title"]]["completed"] = entry["completed"]
        changes["action_items"] = items
    return changes


def _invalid(message: str) -> InvalidParameter:
    """Cogny's 400 for a request it will not take."""
    return InvalidParameter(message, status=400, code="INVALID_PARAMETER")
