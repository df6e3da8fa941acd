"""Read-only queries for the operator's console: each one paginated and served by an index.

The console must answer in well under 100 ms with 100,000 links and 1,000,000 events, so no query
here reads a whole table of events: lists are keyset-paginated on the primary key (`before`), the
inbox depth counts only the states that hold work (pending, running, dead), and the charts read the
last N runs or the last hours of events through `ix_events_received`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from syncd.store.database import Link, _link
from syncd.store.inbox import Event, _event
from syncd.store.schema import LINK_STATES, daemons, events, links, run_failures, runs

PAGE = 50
WORK_STATES = ("pending", "running", "dead")  # what the inbox depth shows; done/ignored are history
LIVE_SECONDS = 60.0  # a daemon whose heartbeat is older than this is taken for gone


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands timestamps back without their zone; they were written in UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


@dataclass
class ConnectorSummary:
    name: str
    states: dict[str, int] = field(default_factory=dict)  # every LinkState, and `failed`
    last_success: datetime | None = None
    last_error: str | None = None
    last_error_ticket: str | None = None


@dataclass
class Page:
    """One page of a keyset-paginated list; `next_before` continues it (None: the last page)."""

    rows: list[Any]
    next_before: int | None


def connector_summaries(engine: Engine, names: list[str]) -> list[ConnectorSummary]:
    """Per connector: records by state (every `LinkState`, plus `failed`: a last error is kept),
    the last success and the last failure recorded by a run."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(links.c.connector, links.c.state, sa.func.count())
                            .group_by(links.c.connector, links.c.state)).all()  # ix_links_connector_state
        failed: dict[str, int] = dict(conn.execute(  # ix_links_failed (partial)
            sa.select(links.c.connector, sa.func.count()).where(links.c.last_error.is_not(None))
            .group_by(links.c.connector)).all())
        out = {n: ConnectorSummary(n) for n in names}
        for connector, state, count in rows:
            out.setdefault(connector, ConnectorSummary(connector)).states[state] = int(count)
        for summary in out.values():
            summary.states = {s: summary.states.get(s, 0) for s in (*LINK_STATES, *summary.states)}
            summary.states["failed"] = int(failed.get(summary.name, 0))
        for summary in out.values():
            summary.last_success = aware(conn.execute(
                sa.select(sa.func.max(links.c.synced_at)).where(links.c.connector == summary.name)).scalar())
            last = conn.execute(sa.select(run_failures.c.ticket_id, run_failures.c.error)
                                .where(run_failures.c.connector == summary.name)
                                .order_by(run_failures.c.id.desc()).limit(1)).first()
            if last is not None:
                summary.last_error_ticket, summary.last_error = last
    return [out[n] for n in sorted(out)]


def inbox_depth(engine: Engine) -> dict[str, int]:
    """pending (never tried), retrying (pending after a failure), running, dead."""
    with engine.connect() as conn:
        tried = events.c.attempts > sa.literal_column("0")  # literal: PostgreSQL matches GROUP BY by its text
        rows = conn.execute(sa.select(events.c.state, tried, sa.func.count())
                            .where(events.c.state.in_(WORK_STATES)).group_by(events.c.state, tried)).all()
    out = {"pending": 0, "retrying": 0, "running": 0, "dead": 0}
    for state, tried, count in rows:
        out["retrying" if state == "pending" and tried else state] += int(count)
    return out


def recent_runs(engine: Engine, limit: int = 30) -> list[dict[str, Any]]:
    """The last `limit` runs, oldest first (the charts draw left to right)."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(runs).order_by(runs.c.id.desc()).limit(limit)).mappings().all()
    return [_run(r) for r in reversed(rows)]


def runs_page(engine: Engine, before: int | None = None, limit: int = PAGE) -> Page:
    query = sa.select(runs).order_by(runs.c.id.desc()).limit(limit + 1)
    if before:
        query = query.where(runs.c.id < before)
    with engine.connect() as conn:
        rows = [_run(r) for r in conn.execute(query).mappings().all()]
    return _page(rows, limit, lambda r: r["id"])


def run(engine: Engine, run_id: int) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().first()
    return _run(row) if row else None


def run_failures_page(engine: Engine, run_id: int, before: int | None = None, limit: int = PAGE) -> Page:
    query = (sa.select(run_failures).where(run_failures.c.run_id == run_id)
             .order_by(run_failures.c.id.desc()).limit(limit + 1))
    if before:
        query = query.where(run_failures.c.id < before)
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings().all()]
    return _page(rows, limit, lambda r: r["id"])


def ticket_failures(engine: Engine, ticket_id: str, limit: int = 20) -> list[dict[str, Any]]:
    """The ticket's last failures in runs, newest first, with when the run started."""
    query = (sa.select(run_failures, runs.c.started_at)
             .join(runs, runs.c.id == run_failures.c.run_id)
             .where(run_failures.c.ticket_id == ticket_id).order_by(run_failures.c.id.desc()).limit(limit))
    with engine.connect() as conn:
        return [{**r, "started_at": aware(r["started_at"])} for r in conn.execute(query).mappings().all()]


def events_per_minute(engine: Engine, hours: int = 3, now: datetime | None = None) -> list[int]:
    """Webhook events received in each minute of the last `hours`, oldest first."""
    now = now or datetime.now(timezone.utc)
    since = now - timedelta(hours=hours)
    minute: sa.ColumnElement[Any]
    # a literal, not a bound parameter: PostgreSQL matches GROUP BY to the select by its text
    sixty: sa.ColumnElement[int] = sa.literal_column("60")
    if engine.dialect.name == "postgresql":
        minute = sa.func.floor(sa.extract("epoch", events.c.received_at) / sixty)
    else:
        minute = sa.cast(sa.func.strftime("%s", events.c.received_at), sa.Integer) / sixty
    with engine.connect() as conn:
        rows = conn.execute(sa.select(minute, sa.func.count()).where(events.c.received_at >= since)
                            .group_by(minute)).all()
    first = int(now.timestamp() // 60) - hours * 60 + 1  # the current minute is the last bucket
    out = [0] * (hours * 60)
    for bucket, count in rows:
        i = int(bucket) - first
        if 0 <= i < len(out):
            out[i] += int(count)
    return out


def events_page(engine: Engine, *, state: str | None = None, type_: str | None = None,
                older_than: timedelta | None = None, newer_than: timedelta | None = None,
                before: int | None = None, limit: int = PAGE) -> Page:
    """The newest events matching the filters, `limit` at a time."""
    query = sa.select(events).order_by(events.c.id.desc()).limit(limit + 1)
    now = datetime.now(timezone.utc)
    if state:
        query = query.where(events.c.state == state)
    if type_:
        query = query.where(events.c.type == type_)
    if older_than is not None:
        query = query.where(events.c.received_at <= now - older_than)
    if newer_than is not None:
        query = query.where(events.c.received_at >= now - newer_than)
    if before:
        query = query.where(events.c.id < before)
    with engine.connect() as conn:
        rows = [_event(r) for r in conn.execute(query).mappings().all()]
    return _page(rows, limit, lambda e: e.id)


def ticket_events(engine: Engine, ticket_id: str, limit: int = 50) -> list[Event]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(events).where(events.c.ticket_id == ticket_id)
                            .order_by(events.c.id.desc()).limit(limit)).mappings().all()
    return [_event(r) for r in rows]


@dataclass
class TicketHit:
    ticket_id: str
    title: str | None
    records: list[tuple[str, str | None, str]]  # (connector, external key or id, state)


def search_tickets(engine: Engine, q: str, limit: int = PAGE) -> list[TicketHit]:
    """Tickets whose id starts with `q`, with a record keyed `q` (GROWTH-12), or whose title holds
    every word of `q`; without `q`, the most recently linked. At most `limit` tickets."""
    q = q.strip()[:200]
    query = sa.select(links.c.ticket_id).distinct().limit(limit)
    if not q:
        query = sa.select(links.c.ticket_id).order_by(links.c.id.desc()).limit(limit * 4)
    elif q.lower().startswith("tkt_"):
        query = query.where(links.c.ticket_id.like(_like(q) + "%", escape="\\")).order_by(links.c.ticket_id)
    with engine.connect() as conn:
        ids: list[str] = []
        if q and not q.lower().startswith("tkt_"):  # a record's key or id (indexed), else title words
            ids = list(conn.execute(query.where(sa.or_(links.c.external_key == q, links.c.external_id == q)))
                       .scalars())
            words = [w for w in q.split() if w][:8]
            # SQLite's LIKE ignores ASCII case (and reads ix_links_title alone); PostgreSQL needs ILIKE
            like = links.c.title.like if engine.dialect.name == "sqlite" else links.c.title.ilike
            query = query.where(*(like("%" + _like(w) + "%", escape="\\") for w in words))
        if not ids:
            ids = list(dict.fromkeys(conn.execute(query).scalars()))[:limit]
        rows = conn.execute(sa.select(links.c.ticket_id, links.c.connector, links.c.external_key,
                                      links.c.external_id, links.c.state, links.c.title)
                            .where(links.c.ticket_id.in_(ids))).all() if ids else []
    hits = {t: TicketHit(t, None, []) for t in ids}
    for ticket_id, connector, key, ext_id, state, title in rows:
        hit = hits[ticket_id]
        hit.title = hit.title or title
        hit.records.append((connector, key or ext_id, state))
    for hit in hits.values():
        hit.records.sort()
    return list(hits.values())


@dataclass
class TicketRecord:
    link: Link
    title: str | None
    items: list[dict[str, Any]]


def ticket_records(engine: Engine, ticket_id: str) -> list[TicketRecord]:
    """Every record of one ticket with its sub-tasks."""
    from syncd.store.schema import subtask_links

    with engine.connect() as conn:
        rows = conn.execute(sa.select(links).where(links.c.ticket_id == ticket_id)
                            .order_by(links.c.connector)).mappings().all()
        out = []
        for row in rows:
            items = conn.execute(sa.select(subtask_links.c.item_key, subtask_links.c.external_key,
                                           subtask_links.c.external_id, subtask_links.c.completed)
                                 .where(subtask_links.c.link_id == row["id"])
                                 .order_by(subtask_links.c.item_key)).mappings().all()
            link = _link(row)
            link.synced_at, link.gone_at = aware(link.synced_at), aware(link.gone_at)
            out.append(TicketRecord(link, row["title"], [dict(i) for i in items]))
    return out


@dataclass
class DaemonRow:
    instance: str
    host: str
    pid: int
    version: str
    config: str | None
    leader: bool
    started_at: datetime
    heartbeat_at: datetime
    last_poll_at: datetime | None
    next_poll_at: datetime | None

    def live(self, now: datetime | None = None) -> bool:
        now = now or datetime.now(timezone.utc)
        return (now - self.heartbeat_at).total_seconds() <= LIVE_SECONDS


def daemons_running(engine: Engine) -> list[DaemonRow]:
    """The daemons whose heartbeat is recent, leader first."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(daemons)).mappings().all()
    found = [DaemonRow(**{**r, "started_at": aware(r["started_at"]), "heartbeat_at": aware(r["heartbeat_at"]),
                          "last_poll_at": aware(r["last_poll_at"]), "next_poll_at": aware(r["next_poll_at"])})
             for r in rows]
    return sorted((d for d in found if d.live()), key=lambda d: (not d.leader, d.started_at))


def heartbeat(engine: Engine, row: dict[str, Any]) -> None:
    """Insert or refresh this daemon's row (written by `syncd run` every few seconds)."""
    with engine.begin() as conn:
        updated = conn.execute(daemons.update().where(daemons.c.instance == row["instance"]).values(**row))
        if not updated.rowcount:
            conn.execute(daemons.insert().values(**row))
        # a daemon killed without its goodbye leaves a row; drop those long dead
        cutoff = datetime.now(timezone.utc) - timedelta(days=1)
        conn.execute(daemons.delete().where(daemons.c.heartbeat_at < cutoff))


def forget_daemon(engine: Engine, instance: str) -> None:
    with engine.begin() as conn:
        conn.execute(daemons.delete().where(daemons.c.instance == instance))


def _run(row: Any) -> dict[str, Any]:
    out = dict(row)
    out["started_at"], out["finished_at"] = aware(out["started_at"]), aware(out["finished_at"])
    try:
        out["per_connector"] = json.loads(out.get("per_connector") or "{}")
    except ValueError:
        out["per_connector"] = {}
    return out


def _page(rows: list[Any], limit: int, key: Any) -> Page:
    if len(rows) > limit:
        return Page(rows[:limit], key(rows[limit - 1]))
    return Page(rows, None)


def _like(text: str) -> str:
    """`text` as a literal inside a LIKE pattern."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
