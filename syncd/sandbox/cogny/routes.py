"""The HTTP endpoints of the Cogny sandbox: validation and behaviour of each documented call.

Every handler raises `ApiError` for a 4xx and returns a `Reply`; `CognySandbox.endpoint`
(sandbox.py) adds auth, rate limiting and the envelope around it. Listing, filters, sorting and
cursors, the checks of PATCH and bulk-update bodies, and the stats are here with the handlers.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request

from syncd.sandbox._common import tokens
from syncd.sandbox._common.tickets import CATEGORIES, PRIORITIES, STATUSES
from syncd.sandbox.cogny.hooks import OTHER_EVENTS, TICKET_EVENTS
from syncd.sandbox.cogny.state import CognyState
from syncd.sandbox.cogny.wire import ApiError, Handler, Reply, bad_param, epoch, parse_time

DISMISS_REASONS = ("not_applicable", "already_implemented", "insufficient_impact", "resource_constraints",
                   "other")
PATCHABLE = ("status", "priority", "assignee", "notes", "action_items")
LIST_OMITS = ("notes", "assignee")  # the docs' list example has neither; GET returns the full ticket
PRIORITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}  # so `-priority` puts critical first
STATUS_RANK = {status: rank for rank, status in enumerate(STATUSES)}  # workflow order
SORT_FIELDS = ("created_at", "updated_at", "priority", "status", "estimated_impact.increase_percentage")
DEFAULT_SORT = "-created_at"
ENUM_FILTERS: dict[str, tuple[str, ...] | None] = {
    "warehouse_id": None, "status": STATUSES, "priority": PRIORITIES, "category": CATEGORIES,
}
TIME_FILTERS = ("created_after", "created_before", "updated_after", "updated_before")
MAX_LIMIT = 100
PATCH_ANSWER = ("id", "status", "priority", "assignee", "notes", "updated_at")


class TicketRoutes:
    """Handlers bound to one sandbox; `table()` lists what the Starlette app serves."""

    def __init__(self, sandbox: CognyState) -> None:
        self.sb = sandbox

    def table(self) -> list[tuple[str, str, Handler, bool]]:
        """(path, method, handler, counts against the batch rate limit), in matching order."""
        return [
            ("/v1/tickets", "GET", self.list_tickets, False),
            ("/v1/tickets/stats", "GET", self.stats, False),
            ("/v1/tickets/bulk-update", "POST", self.bulk_update, True),
            ("/v1/tickets/export", "POST", self.export, False),
            ("/v1/tickets/{ticket_id}", "GET", self.get_ticket, False),
            ("/v1/tickets/{ticket_id}", "PATCH", self.patch_ticket, False),
            ("/v1/tickets/{ticket_id}/dismiss", "POST", self.dismiss, False),
            ("/v1/webhooks", "GET", self.list_webhooks, False),
            ("/v1/webhooks", "POST", self.create_webhook, False),
        ]

    async def list_tickets(self, request: Request) -> Reply:
        """Keyset paging: the cursor holds (sort key, id) of the last item, so edits never shift pages."""
        params = request.query_params
        filters = parse_filters(params, tuple(ENUM_FILTERS) + TIME_FILTERS)
        sort = params.get("sort") or DEFAULT_SORT
        field, descending = sort.removeprefix("-"), sort.startswith("-")
        if field not in SORT_FIELDS:
            raise bad_param("sort", f"Cannot sort by '{field}'", allowed=list(SORT_FIELDS))
        limit = parse_limit(params.get("limit"))
        after = decode_cursor(params["cursor"], sort) if params.get("cursor") else None
        with self.sb.lock:
            rows = [(sort_key(t, field), t["id"], t) for t in self.sb.tickets.values() if matches(t, filters)]
            rows.sort(key=lambda row: (row[0], row[1]), reverse=descending)
            total = len(rows)
            if after is not None:
                rows = [r for r in rows if ((r[0], r[1]) < after if descending else (r[0], r[1]) > after)]
            page = rows[:limit]
            data = [{k: copy.deepcopy(v) for k, v in t.items() if k not in LIST_OMITS} for _, _, t in page]
        has_more = len(rows) > limit
        next_cursor = encode_cursor(sort, page[-1][0], page[-1][1]) if has_more else None
        pagination = {"has_more": has_more, "next_cursor": next_cursor, "total_count": total}
        return Reply(data, pagination=pagination)

    async def stats(self, request: Request) -> Reply:
        filters = parse_filters(request.query_params, ("warehouse_id", "created_after", "created_before"))
        with self.sb.lock:
            rows = [copy.deepcopy(t) for t in self.sb.tickets.values() if matches(t, filters)]
        return Reply(ticket_stats(rows))

    async def get_ticket(self, request: Request) -> Reply:
        with self.sb.lock:
            return Reply(copy.deepcopy(self._find(request.path_params["ticket_id"])))

    async def patch_ticket(self, request: Request) -> Reply:
        body = await read_json(request)
        with self.sb.lock:
            ticket = self._find(request.path_params["ticket_id"])
            changes = ticket_changes(ticket, validate_updates(body, "body"))
            ticket = self.sb.commit(ticket["id"], changes, "api")
            return Reply({k: copy.deepcopy(ticket.get(k)) for k in PATCH_ANSWER})

    async def bulk_update(self, request: Request) -> Reply:
        """Per-ticket outcome: an unknown id or action item title fails that ticket only."""
        body = await read_json(request)
        _reject_unknown(body, ("ticket_ids", "updates"))
        ids = body.get("ticket_ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise bad_param("ticket_ids", "'ticket_ids' must be a non-empty array of ticket ids")
        if len(ids) > MAX_LIMIT:
            raise bad_param("ticket_ids", f"At most {MAX_LIMIT} tickets per request", max=MAX_LIMIT)
        if not isinstance(body.get("updates"), dict):
            raise bad_param("updates", "'updates' must be an object")
        updates = validate_updates(body["updates"], "updates")
        updated: list[str] = []
        failed = 0
        with self.sb.lock:
            for ticket_id in dict.fromkeys(ids):
                try:
                    changes = ticket_changes(self._find(ticket_id), updates)
                except ApiError:
                    failed += 1
                    continue
                self.sb.commit(ticket_id, changes, "api")
                updated.append(ticket_id)
        return Reply({"updated_count": len(updated), "failed_count": failed, "updated_ids": updated})

    async def dismiss(self, request: Request) -> Reply:
        body = await read_json(request)
        _reject_unknown(body, ("reason", "notes"))
        reason, notes = body.get("reason"), body.get("notes")
        if reason not in DISMISS_REASONS:
            raise bad_param("reason", "'reason' must be one of the dismiss reasons",
                            allowed=list(DISMISS_REASONS))
        if notes is not None and not isinstance(notes, str):
            raise bad_param("notes", "'notes' must be a string", expected="string")
        if reason == "other" and not (notes or "").strip():
            raise bad_param("notes", "Reason 'other' needs notes explaining it")
        changes: dict[str, Any] = {"status": "dismissed", "dismiss_reason": reason}
        if notes is not None:
            changes["notes"] = notes  # replaces the whole string, as PATCH does
        with self.sb.lock:
            ticket = self.sb.commit(self._find(request.path_params["ticket_id"])["id"], changes, "api")
            keys = ("id", "status", "dismissed_at", "dismiss_reason", "notes")
            return Reply({k: ticket.get(k) for k in keys})

    async def export(self, request: Request) -> Reply:
        raise ApiError(501, "NOT_IMPLEMENTED", "Ticket export is not available in the sandbox")

    async def create_webhook(self, request: Request) -> Reply:
        body = await read_json(request)
        _reject_unknown(body, ("url", "events", "secret"))
        url, events, secret = body.get("url"), body.get("events"), body.get("secret")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise bad_param("url", "'url' must be an http(s) URL", expected="URL")
        known = TICKET_EVENTS + OTHER_EVENTS
        if not isinstance(events, list) or not events or any(e not in known for e in events):
            raise bad_param("events", "'events' must be a non-empty array of event types",
                            allowed=list(known))
        if not isinstance(secret, str) or not secret:
            raise bad_param("secret", "'secret' must be a non-empty string", expected="string")
        return Reply(self.sb.subscribe(url, secret, list(dict.fromkeys(events))), status=201)

    async def list_webhooks(self, request: Request) -> Reply:
        with self.sb.lock:
            subs = [{k: copy.deepcopy(v) for k, v in s.items() if k != "secret"}
                    for s in self.sb.webhooks.values()]
        return Reply(subs, pagination={"has_more": False, "next_cursor": None, "total_count": len(subs)})

    def _find(self, ticket_id: str) -> dict[str, Any]:
        """The stored ticket (caller holds the lock), or 404 NOT_FOUND."""
        ticket = self.sb.tickets.get(ticket_id)
        if ticket is None:
            raise ApiError(404, "NOT_FOUND", f"Ticket '{ticket_id}' not found", {"ticket_id": ticket_id})
        return ticket


def _reject_unknown(body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise bad_param(unknown[0], f"Unknown field '{unknown[0]}'", allowed=list(allowed))


def parse_filters(params: QueryParams, names: tuple[str, ...]) -> dict[str, Any]:
    """Enum filters as sets (one value, a comma list, or the parameter repeated); times as epochs."""
    filters: dict[str, Any] = {}
    for name in names:
        if name in TIME_FILTERS:
            if params.get(name):
                filters[name] = parse_time(params[name], name).timestamp()
            continue
        values = {v.strip() for raw in params.getlist(name) for v in raw.split(",") if v.strip()}
        allowed = ENUM_FILTERS[name]
        for value in sorted(values):
            if allowed is not None and value not in allowed:
                raise bad_param(name, f"Invalid value '{value}' for '{name}'", allowed=list(allowed),
                                value=value)
        if values:
            filters[name] = values
    return filters


def matches(ticket: dict[str, Any], filters: dict[str, Any]) -> bool:
    """`*_after` is inclusive and `*_before` exclusive: ranges tile, and a poller re-asking from its
    last seen (whole-second) timestamp never misses a change made later in that same second."""
    for name, wanted in filters.items():
        if name in TIME_FILTERS:
            moment = epoch(ticket[name.rsplit("_", 1)[0] + "_at"])
            if (moment < wanted) if name.endswith("_after") else (moment >= wanted):
                return False
        elif ticket.get(name) not in wanted:
            return False
    return True


def parse_limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return 25
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise bad_param("limit", f"'limit' must be an integer from 1 to {MAX_LIMIT}", value=raw)
    return limit


def validate_updates(body: dict[str, Any], where: str) -> dict[str, Any]:
    """Check the fields PATCH and bulk-update accept; all-or-nothing, before anything changes."""
    _reject_unknown(body, PATCHABLE)
    if not body:
        raise ApiError(400, "INVALID_REQUEST", f"No fields to update in {where}",
                       {"allowed": list(PATCHABLE)})
    for name, allowed in (("status", STATUSES), ("priority", PRIORITIES)):
        if name in body and body[name] not in allowed:
            raise bad_param(name, f"Invalid {name}", allowed=list(allowed), value=body[name])
    if "assignee" in body and not (body["assignee"] is None or isinstance(body["assignee"], str)):
        raise bad_param("assignee", "'assignee' must be a user id string or null", expected="string")
    if "notes" in body and not isinstance(body["notes"], str):
        raise bad_param("notes", "'notes' must be a string", expected="string")
    if "action_items" in body:
        items = body["action_items"]
        shape_ok = isinstance(items, list) and all(
            isinstance(i, dict) and isinstance(i.get("title"), str) and isinstance(i.get("completed"), bool)
            for i in items)
        if not shape_ok:
            raise bad_param("action_items", "'action_items' must be an array of {title, completed}",
                            expected="array of {title: string, completed: boolean}")
    return body


def ticket_changes(ticket: dict[str, Any], updates: dict[str, Any]) -> dict[str, Any]:
    """Whole-field changes for `ticket`: action items are matched by title (they have no ids)."""
    changes = {k: v for k, v in updates.items() if k != "action_items"}
    if "action_items" in updates:
        items = copy.deepcopy(ticket.get("action_items") or [])
        by_title = {item["title"]: item for item in items}
        for entry in updates["action_items"]:
            if entry["title"] not in by_title:
                raise bad_param("action_items", f"No action item titled '{entry['title']}'",
                                title=entry["title"])
            by_title[entry["title"]]["completed"] = entry["completed"]
        changes["action_items"] = items
    return changes


def ticket_stats(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The documented /tickets/stats shape, computed from `rows`."""
    total = len(rows)
    count = {field: {value: sum(t[field] == value for t in rows) for value in values}
             for field, values in (("status", STATUSES), ("priority", PRIORITIES), ("category", CATEGORIES))}
    done = [t for t in rows if t["status"] == "completed"]
    days = [(epoch(t["updated_at"]) - epoch(t["created_at"])) / 86400 for t in done]
    live = [t for t in rows if t["status"] != "dismissed" and t.get("estimated_impact")]

    def gain(t: dict[str, Any]) -> float:
        value: float = t["estimated_impact"]["projected_value"] - t["estimated_impact"]["current_value"]
        return value

    conversion = [gain(t) for t in live if t["estimated_impact"]["metric"] == "conversion_rate"]
    revenue = [t["estimated_impact"]["increase_percentage"] for t in live
               if t["category"] == "revenue_growth"]
    return {
        "total_tickets": total,
        "by_status": count["status"],
        "by_priority": count["priority"],
        "by_category": count["category"],
        "estimated_total_impact": {
            "conversion_rate_increase": round(sum(conversion), 3),
            "revenue_increase_percentage": round(sum(revenue), 1),
            "users_retained": int(sum(gain(t) * (t.get("supporting_data") or {}).get("cohort_size", 0)
                                      for t in live if t["category"] == "retention")),
        },
        "completion_rate": round(len(done) / total, 2) if total else 0.0,
        "average_time_to_complete_days": round(sum(days) / len(days), 1) if days else None,
    }


async def read_json(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or 400 INVALID_REQUEST."""
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        raise ApiError(400, "INVALID_REQUEST", "Request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "INVALID_REQUEST", "Request body must be a JSON object")
    return body


def encode_cursor(sort: str, key: float, ticket_id: str) -> str:
    return tokens.encode(json.dumps({"s": sort, "k": key, "id": ticket_id}, separators=(",", ":")).encode())


def decode_cursor(cursor: str, sort: str) -> tuple[float, str]:
    """(sort key, id) of the last item served; 400 when the cursor is not one of ours for `sort`."""
    try:
        data = json.loads(tokens.decode(cursor))
        key, ticket_id = data["k"], data["id"]
        valid = data["s"] == sort and isinstance(key, (int, float)) and isinstance(ticket_id, str)
    except (ValueError, TypeError, KeyError):
        valid = False
    if not valid:
        raise bad_param("cursor", "Invalid or expired pagination cursor (it must come with the same sort)")
    return float(key), ticket_id


def sort_key(ticket: dict[str, Any], field: str) -> float:
    """A number to order by, so cursors stay small and comparable."""
    if field == "priority":
        return float(PRIORITY_RANK.get(ticket["priority"], -1))
    if field == "status":
        return float(STATUS_RANK.get(ticket["status"], -1))
    if field == "estimated_impact.increase_percentage":
        return float((ticket.get("estimated_impact") or {}).get("increase_percentage") or 0.0)
    return epoch(ticket[field])
