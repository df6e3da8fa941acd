"""The listing: every ticket a poll must look at, a page at a time, fetched ahead of the planner.

`iter_pages` walks the configured warehouses and filters (each ticket once), then sweeps the
linked tickets updated since the last clean run that left the filters; `read_ahead` fetches
pages in a helper thread so that Cogny's answer time overlaps the planning of the page before.
`filters_match` applies the same filters to a ticket a webhook names.
"""

from __future__ import annotations

import queue
import threading
from datetime import datetime, timedelta
from typing import Any, Callable, Generator, Iterator, TypeVar

from syncd.config import Config
from syncd.engine.outcome import CognyAPI
from syncd.models import STATUSES, Ticket

T = TypeVar("T")


SWEEP_MARGIN = timedelta(minutes=5)  # clock skew between Cogny and us


def iter_pages(
    config: Config,
    cogny: CognyAPI,
    totals: list[int] | None = None,
    *,
    since: datetime | None = None,
    linked: Callable[[list[str]], set[str]] | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """Every ticket matching `cogny.filters` in every configured warehouse, each once, a page at a time.

    Then the sweep: tickets updated since `since` in any status that are already linked (`linked`
    answers which of a page's ids are). A ticket that leaves the filters (e.g. becomes completed
    while the filter is `open`) must still carry its new state to the records syncd made for it.
    """
    f = config.cogny.filters
    filters = dict(status=f.status, priority=f.priority, category=f.category,
                   created_after=f.created_after, updated_after=f.updated_after)
    seen: set[Any] = set()
    warehouses: list[str | None] = [*config.cogny.warehouses] or [None]  # None: every warehouse
    for warehouse in warehouses:
        first = True
        for page in cogny.pages(limit=config.cogny.page_size, warehouse_id=warehouse, **filters):
            if first and totals is not None and page.total_count is not None:
                totals.append(page.total_count)
            first = False
            fresh = _unseen(page.items, seen)
            if fresh:
                yield fresh
    sweep = _sweep_filters(config, since) if linked is not None else None
    if sweep is None or linked is None:
        return
    for warehouse in warehouses:
        for page in cogny.pages(limit=config.cogny.page_size, warehouse_id=warehouse, **sweep):
            ids = [raw["id"] for raw in page.items
                   if isinstance(raw, dict) and isinstance(raw.get("id"), str) and raw["id"] not in seen]
            known = linked(ids) if ids else set()
            fresh = _unseen(
                [raw for raw in page.items if isinstance(raw, dict) and raw.get("id") in known], seen
            )
            if fresh:
                yield fresh


def read_ahead(pages: Iterator[T], depth: int = 2) -> Generator[T, None, None]:
    """`pages`, fetched by a helper thread up to `depth` pages ahead.

    Cogny takes a while to answer a page; meanwhile the previous one is planned here, so the
    listing's waiting overlaps the CPU work instead of adding to it. Errors arrive in order.
    """
    box: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any, error: BaseException | None = None) -> bool:
        while not stop.is_set():  # ends when there is room or the reader has gone
            try:
                box.put((item, error), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for page in pages:
                if not put(page):
                    return
            put(_END)
        except BaseException as exc:  # handed to the reader, raised there
            put(_END, exc)

    threading.Thread(target=produce, name="listing", daemon=True).start()
    try:
        while True:
            item, error = box.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item
    finally:
        stop.set()


_END = object()


def _unseen(items: list[Any], seen: set[Any]) -> list[Any]:
    out = []
    for raw in items:
        key = raw.get("id") if isinstance(raw, dict) else None
        if key not in seen:
            seen.add(key)
            out.append(raw)
    return out


def _sweep_filters(config: Config, since: datetime | None) -> dict[str, Any] | None:
    """The sweep's listing filters, or None when no ticket can have left the main listing."""
    if since is None:
        return None
    f = config.cogny.filters
    sweep: dict[str, Any] = {"updated_after": (since - SWEEP_MARGIN).strftime("%Y-%m-%dT%H:%M:%SZ")}
    if not (f.priority or f.category or f.created_after or f.updated_after):
        # Only the status can take a ticket out of the listing: sweep just the other statuses.
        outside = [s for s in STATUSES if f.status and s not in f.status]
        if f.status and not outside:
            return None
        if outside:
            sweep["status"] = outside
    return sweep


def filters_match(ticket: Ticket, cogny: Any) -> bool:
    """Whether a ticket falls inside `cogny.warehouses` and `cogny.filters` (for webhook events)."""
    f = cogny.filters
    if cogny.warehouses and ticket.warehouse_id not in cogny.warehouses:
        return False
    for key in ("status", "priority", "category"):
        allowed = getattr(f, key)
        if allowed and getattr(ticket, key) not in allowed:
            return False
    if f.created_after and (ticket.created_at or "") < f.created_after:
        return False
    return not (f.updated_after and (ticket.updated_at or "") < f.updated_after)
