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
                 overrides: dict[str, Any] | None = None) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        spec = dict(tickets=tickets, seed=seed, items=items, rate_limit=rate_limit, rate_window=rate_window,
                    overrides=overrides or {})
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
    from syncd.sandbox.jira.sandbox import JiraSandbox

    class TimedJira(JiraSandbox):
        def __init__(self) -> None:
            super().__init__()
            self.issue_created: dict[str, float] = {}

        def create(self, patch: dict[str, Any], reporter: str) -> dict[str, Any]:
            issue = super().create(patch, reporter)
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

        def commit(self, ticket_id: str, changes: dict[str, Any], changed_by: str) -> dict:
            ticket = super().commit(ticket_id, changes, changed_by)
            if changed_by == "api" and "notes" in changes:
                self.notes_written.setdefault(ticket_id, time.monotonic())
            return ticket

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
