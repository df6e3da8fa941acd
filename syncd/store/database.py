"""The mapping store: which external record mirrors which ticket, and what it last held.

SQLite (WAL) by default, PostgreSQL for production; the same code and migrations serve both.
Rows come back as small dataclasses so no ORM session outlives a call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine, RowMapping
from sqlalchemy.exc import IntegrityError

from syncd.errors import StoreError
from syncd.store.migrations import HEAD
from syncd.store.schema import LinkState, links, remote_states, run_failures, runs, subtask_links

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 0x53594E4344 + 1
IN_CHUNK = 500  # ids per `IN (...)`: SQLite builds before 3.32 allow 999 bound parameters
# Statements built once and run with parameters: building one per call (and its cache key) was a
# large share of the store's CPU per ticket.
_LINK = sa.select(links).where(links.c.ticket_id == sa.bindparam("t"), links.c.connector == sa.bindparam("c"))
_TICKET_LINKS = sa.select(links).where(links.c.ticket_id == sa.bindparam("t")).order_by(links.c.connector)
_UPDATE_LINK = links.update().where(links.c.id == sa.bindparam("link_id"))  # SET: the other parameters
_LINKS_IN = sa.select(links).where(links.c.ticket_id.in_(sa.bindparam("ids", expanding=True)))
_INSERT_LINK = links.insert()
_INSERT_ITEMS = subtask_links.insert()


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Link:
    """One row of `links`: where a ticket's record lives in one connector's target, and what it holds."""

    ticket_id: str
    connector: str
    state: LinkState
    id: int | None = None
    external_id: str | None = None
    external_key: str | None = None
    external_url: str | None = None
    applied_hash: str | None = None
    applied_json: str | None = field(default=None, repr=False)  # parsed only when a hash differs
    notes_line: str | None = None
    synced_at: datetime | None = None
    last_error: str | None = None
    gone_at: datetime | None = None  # state `gone`: when the target said the record no longer exists
    gone_how: str | None = None
    create_sent_at: datetime | None = None  # a create was sent then and its outcome is not known

    @property
    def applied(self) -> dict[str, Any] | None:
        return json.loads(self.applied_json) if self.applied_json else None

    @applied.setter
    def applied(self, value: dict[str, Any] | None) -> None:
        self.applied_json = json.dumps(value, sort_keys=True) if value is not None else None


@dataclass
class ItemLink:
    item_key: str
    external_id: str
    external_key: str | None = None
    applied_hash: str | None = None
    completed: bool = False


@dataclass
class RunCounts:
    seen: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    per_connector: dict[str, dict[str, int]] = field(default_factory=dict)


def create_engine(url: str) -> Engine:
    """An engine tuned for our use: WAL + busy timeout on SQLite, pre-ping on PostgreSQL."""
    if url.startswith("sqlite"):
        in_memory = sa.engine.make_url(url).database in (None, "", ":memory:")
        pool: dict[str, Any] = ({"poolclass": sa.pool.StaticPool} if in_memory
                                else {"pool_size": 8, "max_overflow": 8})
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **pool)

        @sa_event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=8)


class Store:
    """Links, subtask links and runs. Events live in syncd.store.inbox, on the same engine."""

    def __init__(self, engine: Engine):
        self.engine = engine

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> "Store":
        try:
            engine = create_engine(url)
        except Exception as exc:  # bad driver name, malformed URL
            raise StoreError(f"store.url: cannot open {_safe_url(url)}: {exc}") from None
        store = cls(engine)
        if migrate and store.revision() != HEAD:
            store.migrate()
        return store

    @classmethod
    def open_read_only(cls, url: str) -> "Store":
        """For --dry-run: the store as it is, never created or migrated.

        A store that does not exist yet (or was never migrated) plans like an empty one, so a
        first dry run changes nothing on disk, not even by creating the SQLite file.
        """
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        missing = parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") \
            and not Path(parsed.database).exists()
        if not missing:
            store = cls.open(url, migrate=False)
            if store.revision() is not None:
                return store
            store.close()
        return cls.open("sqlite://", migrate=True)

    def migrate(self) -> str:
        """Apply Alembic migrations up to head; returns the head revision."""
        from alembic import command
        from alembic.config import Config as AlembicConfig

        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        try:
            with self.engine.begin() as conn:
                if conn.dialect.name == "postgresql":  # replicas starting together migrate one at a time
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except sa.exc.OperationalError as exc:
            raise StoreError(f"store.url: cannot migrate {_safe_url(str(self.engine.url))}: "
                             f"{exc.orig}") from None
        return self.revision() or ""

    def revision(self) -> str | None:
        try:
            with self.engine.connect() as conn:
                return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        except sa.exc.OperationalError as exc:
            if "alembic_version" in str(exc.orig):
                return None  # an empty database: not migrated yet
            raise StoreError(f"store.url: cannot open {_safe_url(str(self.engine.url))}: "
                             f"{exc.orig}") from None
        except sa.exc.DatabaseError:
            return None

    def close(self) -> None:
        self.engine.dispose()

    # -- links -----------------------------------------------------------------------------
    def get_link(self, ticket_id: str, connector: str) -> Link | None:
        with self.engine.connect() as conn:
            row = conn.execute(_LINK, {"t": ticket_id, "c": connector}).mappings().first()
        return _link(row) if row else None

    def links_for_ticket(self, ticket_id: str) -> list[Link]:
        with self.engine.connect() as conn:
            rows = conn.execute(_TICKET_LINKS, {"t": ticket_id}).mappings().all()
        return [_link(r) for r in rows]

    def links_for(self, ticket_ids: Iterable[str]) -> dict[str, dict[str, Link]]:
        """ticket id -> connector -> link for many tickets (a listing page) in one query per 500 ids."""
        ids = list(dict.fromkeys(ticket_ids))
        out: dict[str, dict[str, Link]] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(ids), IN_CHUNK):
                rows = conn.execute(_LINKS_IN, {"ids": ids[start:start + IN_CHUNK]})
                for row in rows.mappings():
                    out.setdefault(row["ticket_id"], {})[row["connector"]] = _link(row)
        return out

    def list_links(self, *, ticket_id: str | None = None, connector: str | None = None,
                   state: LinkState | None = None, limit: int | None = None) -> list[Link]:
        query = sa.select(links).order_by(links.c.ticket_id, links.c.connector)
        if ticket_id:
            query = query.where(links.c.ticket_id == ticket_id)
        if connector:
            query = query.where(links.c.connector == connector)
        if state:
            query = query.where(links.c.state == state)
        if limit:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [_link(r) for r in conn.execute(query).mappings().all()]

    def claim_create(self, ticket_id: str, connector: str) -> tuple[Link, bool]:
        """Record the intent to create (state `creating`); (the link, whether this call inserted it).

        The unique (ticket_id, connector) constraint makes this the one place where two racing
        workers meet: the loser gets the winner's row back instead of a second intent. A row this
        call inserted is known to have no children yet, so the caller need not read them.
        """
        now = utcnow()
        try:
            with self.engine.begin() as conn:
                result = conn.execute(_INSERT_LINK, dict(ticket_id=ticket_id, connector=connector,
                                                         state="creating", created_at=now, updated_at=now))
                return Link(ticket_id, connector, "creating", id=_inserted_id(result)), True
        except IntegrityError:
            pass
        link = self.get_link(ticket_id, connector)
        assert link is not None
        return link, False

    def claim_creates(self, ticket_ids: list[str], connector: str) -> dict[str, Link]:
        """`claim_create` for many tickets in one transaction: ticket id -> the row this call inserted.

        If any row exists already (another worker claimed it meanwhile), nothing is inserted and
        each ticket is claimed alone; a row someone else holds is left out of the answer.
        """
        now = utcnow()
        # the create follows at once (syncd.engine.bulk): the send is recorded with the intent
        rows = [dict(ticket_id=t, connector=connector, state="creating", create_sent_at=now, created_at=now,
                     updated_at=now)
                for t in ticket_ids]
        if not rows:
            return {}
        try:
            with self.engine.begin() as conn:
                inserted = conn.execute(_INSERT_LINK.returning(links.c.id, links.c.ticket_id), rows).all()
            return {t: Link(t, connector, "creating", id=int(i), create_sent_at=now) for i, t in inserted}
        except IntegrityError:
            pass
        out = {}
        for ticket_id in ticket_ids:
            link, new_row = self.claim_create(ticket_id, connector)
            if new_row:
                out[ticket_id] = link
        return out

    def save_links(self, saves: list[tuple[Link, list[ItemLink]]]) -> None:
        """`save_link` for many links (each with its new children) in one transaction."""
        if not saves:
            return
        now = utcnow()
        values = [_link_values(ln, now) for ln, _ in saves]
        rows = [row for ln, items in saves for row in _item_rows(ln.id, items)]
        with self.engine.begin() as conn:
            conn.execute(_UPDATE_LINK, values)
            if rows:
                conn.execute(_INSERT_ITEMS, rows)

    def save_link(self, link: Link, *, new_items: Iterable[ItemLink] = ()) -> None:
        """Write the link back; `new_items` (children just created) are inserted in the same transaction."""
        self.save_links([(link, list(new_items))])

    def restart_link(self, link: Link) -> Link:
        """Forget the record a link points at, so that the next reconcile looks for one afresh.

        The row goes back to `creating` without an external record, its children and the last
        state read from the target are dropped, and its notes line is kept: the write-back then
        knows the old line as ours and replaces it. The marker look-up that follows adopts the
        record if it still exists; otherwise one new record is created.
        """
        assert link.id is not None
        fresh = Link(link.ticket_id, link.connector, "creating", id=link.id, notes_line=link.notes_line)
        with self.engine.begin() as conn:
            conn.execute(subtask_links.delete().where(subtask_links.c.link_id == link.id))
            conn.execute(remote_states.delete().where(remote_states.c.link_id == link.id))
            conn.execute(_UPDATE_LINK, [_link_values(fresh, utcnow())])
        return fresh

    def set_notes_lines(self, updates: Iterable[tuple[int, str | None]]) -> None:
        rows = [{"link_id": link_id, "notes_line": line} for link_id, line in updates]
        if not rows:
            return
        with self.engine.begin() as conn:
            conn.execute(_UPDATE_LINK, rows)

    def link_counts(self) -> dict[str, dict[LinkState, int]]:
        """connector -> state -> count, for `syncd status`."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(links.c.connector, links.c.state, sa.func.count())
                                .group_by(links.c.connector, links.c.state)).all()
        out: dict[str, dict[LinkState, int]] = {}
        for connector, state, count in rows:
            out.setdefault(connector, {})[state] = count
        return out

    # -- subtask links -------------------------------------------------------------------
    def items(self, link_id: int) -> dict[str, ItemLink]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(subtask_links).where(subtask_links.c.link_id == link_id)).mappings()
            return {r["item_key"]: ItemLink(r["item_key"], r["external_id"], r["external_key"],
                                            r["applied_hash"], bool(r["completed"])) for r in rows}

    def add_items(self, link_id: int, items: Iterable[ItemLink]) -> None:
        """Insert links of children just created (one statement); upserts if some are known after all."""
        items = list(items)
        if not items:
            return
        try:
            with self.engine.begin() as conn:
                conn.execute(_INSERT_ITEMS, _item_rows(link_id, items))
        except IntegrityError:
            self.save_items(link_id, items)

    def save_items(self, link_id: int, items: Iterable[ItemLink]) -> None:
        """Upsert item links by (link_id, item_key)."""
        with self.engine.begin() as conn:
            existing = {r[0]: r[1] for r in conn.execute(
                sa.select(subtask_links.c.item_key, subtask_links.c.id)
                .where(subtask_links.c.link_id == link_id))}
            for item in items:
                values = dict(external_id=item.external_id, external_key=item.external_key,
                              applied_hash=item.applied_hash, completed=item.completed)
                if item.item_key in existing:
                    conn.execute(subtask_links.update().where(subtask_links.c.id == existing[item.item_key])
                                 .values(**values))
                else:
                    conn.execute(subtask_links.insert().values(link_id=link_id, item_key=item.item_key,
                                                               **values))

    # -- runs ------------------------------------------------------------------------------
    def record_run(self, kind: str, started_at: datetime, counts: RunCounts, error: str | None = None,
                   failures: Iterable[tuple[str, str, str]] = ()) -> int:
        """The run row, its per-connector counts and its failures (ticket, connector, reason: the console)."""
        finished = utcnow()
        with self.engine.begin() as conn:
            result = conn.execute(runs.insert().values(
                kind=kind, started_at=started_at, finished_at=finished,
                duration_seconds=(finished - started_at).total_seconds(), seen=counts.seen,
                created=counts.created, updated=counts.updated, unchanged=counts.unchanged,
                failed=counts.failed, error=error,
                per_connector=json.dumps(counts.per_connector) if counts.per_connector else None))
            run_id = _inserted_id(result)
            rows = [dict(run_id=run_id, ticket_id=t[:64], connector=c[:64], error=e[:4000])
                    for t, c, e in failures]
            if rows:
                conn.execute(run_failures.insert(), rows)
            return run_id

    def last_clean_start(self) -> datetime | None:
        """When the last cycle that saw everything without a listing error started."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.max(runs.c.started_at))
                                .where(runs.c.error.is_(None))).scalar()

    def last_runs(self, limit: int = 5) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(runs).order_by(runs.c.id.desc()).limit(limit)).mappings().all()
        return [dict(r) for r in rows]


def _link_values(ln: Link, now: datetime) -> dict[str, Any]:
    """The parameters of `_UPDATE_LINK` that write every column of `ln`."""
    return dict(link_id=ln.id, state=ln.state, external_id=ln.external_id, external_key=ln.external_key,
                external_url=ln.external_url, applied_hash=ln.applied_hash, applied=ln.applied_json,
                notes_line=ln.notes_line, synced_at=ln.synced_at, last_error=ln.last_error,
                gone_at=ln.gone_at, gone_how=ln.gone_how, create_sent_at=ln.create_sent_at,
                title=_title(ln.applied_json), updated_at=now)


def _item_rows(link_id: int | None, items: Iterable[ItemLink]) -> list[dict[str, Any]]:
    return [dict(link_id=link_id, item_key=i.item_key, external_id=i.external_id, external_key=i.external_key,
                 applied_hash=i.applied_hash, completed=i.completed) for i in items]


def _title(applied: str | None) -> str | None:
    """The applied record's title (JIRA summary, Linear title, Asana name, Slack text), for the console."""
    if not applied:
        return None
    try:
        record = json.loads(applied).get("record") or {}
    except (ValueError, AttributeError):
        return None
    for key in ("title", "summary", "name", "text"):
        if isinstance(record.get(key), str):
            return str(record[key])[:500]
    return None


def _link(row: RowMapping) -> Link:
    return Link(
        id=row["id"], ticket_id=row["ticket_id"], connector=row["connector"], state=row["state"],
        external_id=row["external_id"], external_key=row["external_key"], external_url=row["external_url"],
        applied_hash=row["applied_hash"], applied_json=row["applied"],
        notes_line=row["notes_line"], synced_at=row["synced_at"], last_error=row["last_error"],
        gone_at=row["gone_at"], gone_how=row["gone_how"], create_sent_at=_aware(row["create_sent_at"]),
    )


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite gives timestamps back without their zone; they were written in UTC."""
    return moment.replace(tzinfo=timezone.utc) if moment is not None and moment.tzinfo is None else moment


def _safe_url(url: str) -> str:
    """The URL with any password hidden."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"


def _inserted_id(result: Any) -> int:
    """The primary key of the row an INSERT just made."""
    key = result.inserted_primary_key
    assert key is not None  # an INSERT of one row always has it
    return int(key[0])
