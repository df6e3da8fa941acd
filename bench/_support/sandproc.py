"""The Cogny and JIRA sandboxes in a helper process, so they do not take CPU from the measuring loop.

`Sandboxes(...)` spawns the process and talks to it over a pipe. The sandboxes are the project's
own (`syncd.sandbox`), subclassed only to note *when* things happen, in `time.monotonic()`
(CLOCK_MONOTONIC: the same clock in every process of the machine):

  - `issue_created[ticket_id]`   the JIRA parent issue carrying the marker label was stored
  - `notes_written[ticket_id]`   Cogny accepted the write-back PATCH of the ticket's notes
  - `request_times`              every authenticated Cogny request, in `time.time()` (the clock of
                                 the sandbox's rate-limit windows)
"""

from __future__ import annotations

import multiprocessing as mp
import re
import time
from collections import Counter
from typing import Any

_KEY = re.compile(r"/[A-Z][A-Z0-9]+-\d+(?=/|$)")
_NUM = re.compile(r"/\d+(?=/|$)")
_TKT = re.compile(r"/tkt_[0-9a-zA-Z]+(?=/|$)")


def kind(method: str, path: str) -> str:
    """`GET /v1/tickets/{id}` style: request paths with ids folded."""
    path = _TKT.sub("/{id}", _KEY.sub("/{key}", _NUM.sub("/{n}", path)))
    return f"{method} {path}"


class Sandboxes:
    """Client side: spawn, call, stop. Use as a context manager."""

    def __init__(self, *, tickets: int = 0, seed: int = 0, items: tuple[int, int] | None = None,
                 rate_limit: int | None = None, rate_window: float = 60.0,
                 overrides: dict[str, Any] | None = None, indexed_listing: bool = False) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        spec = dict(tickets=tickets, seed=seed, items=items, rate_limit=rate_limit, rate_window=rate_window,
                    overrides=overrides or {}, indexed_listing=indexed_listing)
        self.proc = ctx.Process(target=serve, args=(child, spec), name="bench-sandboxes", daemon=True)
        self.proc.start()
        if not self._conn.poll(60):
            self.proc.kill()
            raise RuntimeError("sandbox process did not start within 60 s")
        ok, value = self._conn.recv()
        if not ok:
            raise RuntimeError(f"sandbox process failed: {value}")
        self.cogny_url, self.jira_url = value

    def call(self, command: str, *args: Any, timeout: float = 60.0) -> Any:
        self._conn.send((command, args))
        if not self._conn.poll(timeout):
            raise TimeoutError(f"sandbox process did not answer {command!r} within {timeout} s")
        ok, value = self._conn.recv()
        if not ok:
            raise RuntimeError(f"sandbox command {command!r} failed: {value}")
        return value

    @property
    def pid(self) -> int:
        return int(self.proc.pid or 0)

    def stop(self) -> None:
        if self.proc.is_alive():
            try:
                self.call("stop", timeout=15)
            except (OSError, EOFError, TimeoutError, RuntimeError):
                pass
            self.proc.join(15)
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join(5)

    def __enter__(self) -> "Sandboxes":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- inside the helper process ------------------------------------------------------------------------
def _tickets(n: int, seed: int, items: tuple[int, int] | None,
             overrides: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    from syncd.sandbox._common.tickets import generate_tickets

    out = generate_tickets(n, seed=seed) if n else []
    for t in out:
        t.update(overrides or {})  # e.g. every ticket open in one warehouse
    if items is not None:  # e.g. (1, 2): every ticket gets 1 or 2 action items, alternating
        low, high = items
        span = high - low + 1
        for i, t in enumerate(out):
            want = low + i % span
            pool = list(t["action_items"])
            while len(pool) < want:
                pool.append({"title": f"Follow-up step {len(pool) + 1}", "description": "Check the outcome",
                             "estimated_hours": 2, "completed": False})
            t["action_items"] = pool[:want]
    return out


def serve(conn: Any, spec: dict[str, Any]) -> None:
    from syncd.sandbox.cogny.sandbox import CognySandbox
    from syncd.sandbox.jira.hooks import PERSON
    from syncd.sandbox.jira.sandbox import JiraSandbox

    class TimedJira(JiraSandbox):
        def __init__(self) -> None:
            super().__init__()
            self.issue_created: dict[str, float] = {}
            self._version = 0  # bumped by every change of the issue set (for the caches below)
            self._cached: dict[str, tuple[int, Any]] = {}

        # With `indexed_listing`, two whole-store scans the sandbox makes for every search (each
        # hit's sub-tasks, and the JQL values it validates against) are cached, kept up to date
        # as issues are created and rebuilt after an edit, move or delete: at 100,000 tickets
        # (350,000 issues) they made the stand-in, not syncd, the bound of a first sync (each
        # page's marker search scanned every issue).
        def _bump(self) -> None:
            self._version += 1

        def _created(self, issue: dict[str, Any]) -> None:
            """Add a new issue to the caches instead of dropping them (creates only append)."""
            kids, values = self._cached.get("kids"), self._cached.get("values")
            if kids is not None and kids[0] == self._version:
                from syncd.sandbox.jira.state import ISSUE_TYPES

                if issue["parent"] and ISSUE_TYPES[issue["issuetype"]]["subtask"]:
                    kids[1].setdefault(issue["parent"], []).append(issue)  # ids grow: still oldest first
                self._cached["kids"] = (self._version + 1, kids[1])
            if values is not None and values[0] == self._version:
                values[1]["key"].update((issue["key"].lower(), issue["id"]))  # "parent" is the same set
                self._cached["values"] = (self._version + 1, values[1])
            self._version += 1

        def _cache(self, name: str, build: Any) -> Any:
            if index is None:
                return build()
            hit = self._cached.get(name)
            if hit is None or hit[0] != self._version:
                hit = self._cached[name] = (self._version, build())
            return hit[1]

        def subtasks_by_parent(self) -> dict[str, list[dict[str, Any]]]:
            return self._cache("kids", super().subtasks_by_parent)  # type: ignore[no-any-return]

        def known_values(self) -> dict[str, set[str]]:
            return self._cache("values", super().known_values)  # type: ignore[no-any-return]

        # bumped after each change, so a cache built while it happened is never kept
        def edit(self, issue: dict[str, Any], patch: dict[str, Any], user: str) -> None:
            super().edit(issue, patch, user)
            self._bump()

        def delete(self, issue: dict[str, Any], with_subtasks: bool, user: str | None = None) -> None:
            super().delete(issue, with_subtasks, user)
            self._bump()

        def move_issue(self, key: str, project: str, user: str = PERSON) -> str:
            moved = super().move_issue(key, project, user)
            self._bump()
            return moved

        def create(self, patch: dict[str, Any], reporter: str) -> dict[str, Any]:
            issue = super().create(patch, reporter)
            self._created(issue)
            if not issue.get("parent"):
                for label in issue.get("labels") or []:
                    if label.startswith("cogny-"):
                        self.issue_created.setdefault(label[len("cogny-"):], time.monotonic())
            return issue

    class TimedCogny(CognySandbox):
        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, **kw)
            self.notes_written: dict[str, float] = {}
            self.request_times: list[float] = []

        def _throttle(self, key: str, batch: bool) -> dict[str, str]:
            self.request_times.append(time.time())  # the clock the rate-limit windows use
            return super()._throttle(key, batch)

        def add_ticket(self, ticket: dict[str, Any]) -> dict[str, Any]:
            if index is not None:
                index.added()
            return super().add_ticket(ticket)

        def commit(self, ticket_id: str, changes: dict[str, Any], changed_by: str) -> dict:
            before = dict(self.tickets[ticket_id]) if index is not None else None
            ticket = super().commit(ticket_id, changes, changed_by)
            if index is not None and before is not None:
                index.changed(before, ticket)
            if changed_by == "api" and "notes" in changes:
                self.notes_written.setdefault(ticket_id, time.monotonic())
            return ticket

    index = _install_listing_index() if spec.get("indexed_listing") else None
    try:
        cogny = TimedCogny(_tickets(spec["tickets"], spec["seed"], spec["items"], spec["overrides"]),
                           rate_limit=spec["rate_limit"], rate_window=spec["rate_window"]).start()
        jira = TimedJira().start()
    except Exception as exc:  # report instead of dying silently
        conn.send((False, f"{type(exc).__name__}: {exc}"))
        return
    conn.send((True, (cogny.url, jira.url)))

    def summary(log: Any) -> dict[str, int]:
        def tag(r: Any) -> str:  # a Cogny listing with updated_after is syncd's sweep of linked tickets
            return " (updated_after)" if r.path.endswith("/tickets") and "updated_after=" in r.query else ""
        return dict(Counter(f"{kind(r.method, r.path)}{tag(r)} {r.status}" for r in log.all()))

    def add_tickets(n: int, seed: int, items: tuple[int, int] | None) -> list[str]:
        ids = []
        for t in _tickets(n, seed, items):
            if t["id"] not in cogny.tickets:
                cogny.add_ticket(t)
                ids.append(t["id"])
        return ids

    commands: dict[str, Any] = {
        "cogny_log": lambda: summary(cogny.log),
        "jira_log": lambda: summary(jira.log),
        "clear_logs": lambda: (cogny.log.clear(), jira.log.clear(), cogny.request_times.clear()) and None,
        "cogny_request_times": lambda: list(cogny.request_times),
        "add_tickets": add_tickets,
        "ticket_ids": lambda: list(cogny.tickets),
        "issue_created": lambda ids: {i: jira.issue_created.get(i) for i in ids},
        "notes_written": lambda ids: {i: cogny.notes_written.get(i) for i in ids},
        "issue_count": lambda: jira.count(),
        "parents": lambda: sum(1 for i in list(jira.issues.values()) if not i.get("parent")),
        "issues_per_ticket": lambda: _issues_per_ticket(jira),
        "set_rate": lambda limit, window: _set_rate(cogny, limit, window),
        "cogny_faults": lambda knobs: cogny.faults.clear().set(**knobs) and None,
        "jira_faults": lambda knobs: jira.faults.clear().set(**knobs) and None,
        "close_subtasks": lambda n: _close_subtasks(jira, n),
        "cogny_statuses": lambda: dict(Counter(t["status"] for t in list(cogny.tickets.values()))),
        "items_completed": lambda: sum(
            a["completed"] for t in list(cogny.tickets.values()) for a in t["action_items"]
        ),
    }
    while True:
        try:
            command, args = conn.recv()
        except (EOFError, OSError):
            break
        if command == "stop":
            conn.send((True, None))
            break
        try:
            conn.send((True, commands[command](*args)))
        except Exception as exc:
            conn.send((False, f"{type(exc).__name__}: {exc}"))
    cogny.stop()
    jira.stop()


def _close_subtasks(jira: Any, n: int) -> list[str]:
    """A person closes every sub-task of the first `n` parent issues (for the sync-back bench)."""
    with jira.lock:
        parents = sorted(
            (i for i in jira.issues.values() if not i.get("parent")), key=lambda i: int(i["id"])
        )[:n]
        keys = [s["key"] for p in parents for s in jira.issues.values() if s.get("parent") == p["key"]]
    for key in keys:
        jira.set_status(key, "Done")
    return keys


def _issues_per_ticket(jira: Any) -> dict[str, int]:
    """Parent issues per Cogny ticket: by syncd's marker label, else by the ticket URL in the description."""
    found: Counter[str] = Counter()
    with jira.lock:
        for issue in jira.issues.values():
            if issue.get("parent"):
                continue
            marker = next(
                (lb[len("cogny-") :] for lb in issue.get("labels") or [] if lb.startswith("cogny-")), None
            )
            source = _SOURCE.search(str(issue.get("description") or ""))
            found[marker or (source.group(1) if source else "?")] += 1
    return dict(found)


_SOURCE = re.compile(r"/tickets/(tkt_[0-9a-zA-Z]+)")


def _set_rate(cogny: Any, limit: int | None, window: float) -> None:
    from syncd.sandbox.cogny.sandbox import FixedWindow

    with cogny.lock:
        cogny._limits = FixedWindow(limit, window) if limit is not None else None


# -- a listing index for large sandboxes (helper process only) -------------------------------------
class ListingIndex:
    """The Cogny sandbox's `GET /v1/tickets` in O(page) instead of O(N log N) per page.

    The project's sandbox filters and sorts every ticket for every page: faithful, and fine for
    the few thousand tickets of the tests, but at 100,000 tickets a page costs ≈ 0.3 s of the
    sandbox's CPU, so a bench would time the stand-in instead of syncd (the real API has indexes).
    Here, inside the bench's helper process only, the handler keeps each sort order as a sorted
    list of (key, id), rebuilt only when a ticket is added or a write changes that sort key, finds
    the cursor by bisection, and walks forward applying the same `matches` until the page is full;
    `total_count` is cached per filter set until a write touches a field that filter reads. Same
    answers as the original handler (pages, cursors, errors): only the cost differs.
    """

    def __init__(self) -> None:
        self.orders: dict[str, list[tuple[float, str]]] = {}
        self.totals: dict[tuple[Any, ...], int] = {}

    def added(self) -> None:
        self.orders.clear()
        self.totals.clear()

    def changed(self, before: dict[str, Any], after: dict[str, Any]) -> None:
        from syncd.sandbox.cogny.routes import sort_key

        for field in list(self.orders):
            if sort_key(before, field) != sort_key(after, field):
                del self.orders[field]
        fields = {k for k in after if before.get(k) != after.get(k)}
        for key in list(self.totals):
            if any(name in fields or f"{name.rsplit('_', 1)[0]}_at" in fields for name, _ in key):
                del self.totals[key]

    def page(self, tickets: dict[str, Any], field: str, descending: bool, filters: dict[str, Any],
             after: tuple[float, str] | None, limit: int) -> tuple[list[tuple[float, str, Any]], int, bool]:
        import bisect

        from syncd.sandbox.cogny.routes import matches, sort_key

        order = self.orders.get(field)
        if order is None:
            order = self.orders[field] = sorted((sort_key(t, field), t["id"]) for t in tickets.values())
        fkey = tuple(sorted((k, tuple(sorted(v)) if isinstance(v, set) else v) for k, v in filters.items()))
        total = self.totals.get(fkey)
        if total is None:
            total = self.totals[fkey] = sum(1 for t in tickets.values() if matches(t, filters))
        if descending:
            start = len(order) - 1 if after is None else bisect.bisect_left(order, after) - 1
            indexes = range(start, -1, -1)
        else:
            indexes = range(0 if after is None else bisect.bisect_right(order, after), len(order))
        page: list[tuple[float, str, Any]] = []
        for i in indexes:
            key, tid = order[i]
            t = tickets[tid]
            if matches(t, filters):
                page.append((key, tid, t))
                if len(page) > limit:
                    break
        return page[:limit], total, len(page) > limit


def _install_listing_index() -> ListingIndex:
    """Replace the listing handler of this (helper) process's Cogny sandbox by the indexed one."""
    import copy

    from syncd.sandbox.cogny import routes as r
    from syncd.sandbox.cogny.wire import Reply, bad_param

    index = ListingIndex()

    async def list_tickets(self: Any, request: Any) -> Any:
        params = request.query_params
        filters = r.parse_filters(params, tuple(r.ENUM_FILTERS) + r.TIME_FILTERS)
        sort = params.get("sort") or r.DEFAULT_SORT
        field, descending = sort.removeprefix("-"), sort.startswith("-")
        if field not in r.SORT_FIELDS:
            raise bad_param("sort", f"Cannot sort by '{field}'", allowed=list(r.SORT_FIELDS))
        limit = r.parse_limit(params.get("limit"))
        after = r.decode_cursor(params["cursor"], sort) if params.get("cursor") else None
        with self.sb.lock:
            page, total, has_more = index.page(self.sb.tickets, field, descending, filters, after, limit)
            data = [{k: copy.deepcopy(v) for k, v in t.items() if k not in r.LIST_OMITS} for _, _, t in page]
        next_cursor = r.encode_cursor(sort, page[-1][0], page[-1][1]) if has_more else None
        pagination = {"has_more": has_more, "next_cursor": next_cursor, "total_count": total}
        return Reply(data, pagination=pagination)

    r.TicketRoutes.list_tickets = list_tickets  # type: ignore[method-assign]
    return index
