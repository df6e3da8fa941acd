"""The mapping store on SQLite and on a real PostgreSQL server: same tests, same behaviour."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from syncd.errors import StoreError
from syncd.store.database import ItemLink, RunCounts, Store, utcnow
from syncd.store.locks import TicketLocks
from syncd.store.migrations import HEAD


def test_migrations_create_every_table_on_an_empty_database(store_url: str) -> None:
    store = Store.open(store_url)
    tables = set(sa.inspect(store.engine).get_table_names())
    assert {"links", "subtask_links", "events", "runs", "remote_states", "hook_secrets", "run_failures",
            "daemons", "alembic_version"} <= tables
    assert store.revision() == HEAD == "0005"
    assert store.migrate() == HEAD  # idempotent
    store.close()


def test_a_0001_store_with_links_upgrades_in_place(store_url: str) -> None:
    """A store written by the first release keeps its links when 0002 (sync-back) is applied."""
    from alembic import command
    from alembic.config import Config as AlembicConfig

    from syncd.store.database import MIGRATIONS, create_engine

    engine = create_engine(store_url)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    old = Store(engine)
    assert old.revision() == "0001"
    # a row as that release wrote it: its columns only (today's Store writes the later ones too)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO links (ticket_id, connector, state, external_id, applied, "
                             "created_at, updated_at) VALUES ('tkt_old', 'jira', 'synced', '10001', "
                             ":applied, :now, :now)"),
                     {"applied": '{"record": {"summary": "Old title"}, "items": {}}', "now": utcnow()})
    store = Store.open(store_url)  # opening migrates to head
    assert store.revision() == HEAD
    assert store.get_link("tkt_old", "jira").external_id == "10001"
    with store.engine.connect() as conn:  # 0004 filled the title the console searches
        title = conn.execute(sa.text("SELECT title FROM links WHERE ticket_id = 'tkt_old'")).scalar()
    assert title == "Old title"
    assert {"remote_states", "hook_secrets"} <= set(sa.inspect(store.engine).get_table_names())
    store.close()
    engine.dispose()


def test_link_lifecycle_and_unique_intent(store_url: str) -> None:
    store = Store.open(store_url)
    link = store.claim_create("tkt_1", "jira")[0]
    assert link.state == "creating" and link.id
    again = store.claim_create("tkt_1", "jira")[0]
    assert again.id == link.id  # the same intent, never a second row
    link.state, link.external_id, link.external_key = "synced", "10001", "GROWTH-1"
    link.applied_hash, link.applied = "abc", {"record": {"summary": "x"}, "items": {}}
    store.save_link(link)
    got = store.get_link("tkt_1", "jira")
    assert got is not None and got.state == "synced" and got.applied == link.applied
    assert store.link_counts() == {"jira": {"synced": 1}}
    store.close()


def test_racing_claim_create_yields_one_row(store_url: str) -> None:
    store = Store.open(store_url)
    ids: list[int | None] = []
    barrier = threading.Barrier(6, timeout=10)

    def worker() -> None:
        barrier.wait()
        ids.append(store.claim_create("tkt_race", "jira")[0].id)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert len(ids) == 6 and len(set(ids)) == 1
    assert len(store.list_links(ticket_id="tkt_race")) == 1
    store.close()


def test_items_upsert_by_title(store_url: str) -> None:
    store = Store.open(store_url)
    link = store.claim_create("tkt_2", "jira")[0]
    assert link.id is not None
    store.save_items(link.id, [ItemLink("Do A", "1", "G-2", "h1"), ItemLink("Do B", "2", "G-3", "h2")])
    store.save_items(link.id, [ItemLink("Do A", "1", "G-2", "h9", completed=True)])
    items = store.items(link.id)
    assert set(items) == {"Do A", "Do B"}
    assert items["Do A"].applied_hash == "h9" and items["Do A"].completed
    store.close()


def test_runs_are_recorded(store_url: str) -> None:
    store = Store.open(store_url)
    store.record_run("run-once", utcnow(), RunCounts(seen=3, created=2, unchanged=1))
    [run] = store.last_runs()
    assert (run["seen"], run["created"], run["unchanged"], run["failed"]) == (3, 2, 1, 0)
    store.close()


def test_unreachable_postgres_is_a_clear_error() -> None:
    with pytest.raises(StoreError) as info:
        Store.open("postgresql+psycopg://syncd:hunter2@127.0.0.1:1/nowhere")
    assert "hunter2" not in str(info.value) and "store.url" in str(info.value)


def test_head_constant_matches_alembic_scripts() -> None:
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    from syncd.store.database import MIGRATIONS
    from syncd.store.migrations import HEAD

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD


# -- what a poll's bulk create relies on (syncd.engine.bulk) ---------------------------------------

def test_claim_creates_inserts_every_row_at_once_and_leaves_out_rows_it_did_not_insert(
        store_url: str) -> None:
    store = Store.open(store_url)
    theirs = store.claim_create("tkt_b", "jira")[0]
    claimed = store.claim_creates(["tkt_a", "tkt_b", "tkt_c"], "jira")
    assert sorted(claimed) == ["tkt_a", "tkt_c"]  # tkt_b is someone else's intent
    assert all(ln.state == "creating" and ln.id for ln in claimed.values())
    assert claimed["tkt_a"].id != theirs.id
    assert store.claim_creates(["tkt_a"], "jira") == {}  # never a second intent
    link = claimed["tkt_a"]
    link.state, link.external_id, link.external_key = "synced", "10001", "GROWTH-1"
    store.save_links([(link, [ItemLink("Do A", "10002", "GROWTH-2", "h1")]), (claimed["tkt_c"], [])])
    assert store.get_link("tkt_a", "jira").state == "synced"
    assert set(store.items(link.id)) == {"Do A"}
    assert store.get_link("tkt_c", "jira").state == "creating"
    store.close()


def test_try_hold_many_skips_tickets_being_reconciled_and_releases_the_rest(store_url: str) -> None:
    locks = TicketLocks(store_url)
    entered, leave = threading.Event(), threading.Event()

    def busy() -> None:
        with locks.hold("tkt_busy"):
            entered.set()
            leave.wait(10)

    worker = threading.Thread(target=busy)
    worker.start()
    try:
        assert entered.wait(10)
        with locks.try_hold_many(["tkt_1", "tkt_busy", "tkt_2"]) as held:
            assert held == {"tkt_1", "tkt_2"}
            other = TicketLocks(store_url)  # another replica: on PostgreSQL, the advisory locks say no
            with other.try_hold_many(["tkt_1", "tkt_3"]) as theirs:
                assert theirs == ({"tkt_3"} if store_url.startswith("postgresql") else {"tkt_1", "tkt_3"})
    finally:
        leave.set()
        worker.join(10)
    with locks.try_hold_many(["tkt_1", "tkt_busy"]) as held:  # everything was released
        assert held == {"tkt_1", "tkt_busy"}
    assert locks._locks == {}  # nothing kept per ticket once released
