"""Which connectors a ticket goes to: the union of every matching route (an Alertmanager tree, kept flat)."""

from __future__ import annotations

from typing import Any, Iterable

MATCH_KEYS = ("priority", "category", "status", "warehouse_id")


def matches(match: Any, ticket: Any) -> bool:
    """A route matches when every key it names allows the ticket's value; a missing key allows all."""
    for key in MATCH_KEYS:
        allowed = getattr(match, key)
        if allowed is not None and _value(ticket, key) not in allowed:
            return False
    return True


def route(ticket: Any, routes: Iterable[Any], connectors: Iterable[str]) -> list[str]:
    """Connector names for `ticket`, in config order. No routes: every connector."""
    names = list(connectors)
    routes = list(routes)
    if not routes:
        return names
    chosen = {name for r in routes if matches(r.match, ticket) for name in r.connectors}
    return [name for name in names if name in chosen]


def explain(ticket: Any, routes: Iterable[Any]) -> list[tuple[int, bool, list[str]]]:
    """(route index, matched?, connectors) for each route, for `syncd routes test`."""
    return [(i, matches(r.match, ticket), list(r.connectors)) for i, r in enumerate(routes)]


def _value(ticket: Any, key: str) -> Any:
    return ticket.get(key) if isinstance(ticket, dict) else getattr(ticket, key, None)
