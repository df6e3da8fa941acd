"""The mapping store's tables (SQLAlchemy Core). Alembic migrations in syncd/store/migrations create them."""

from __future__ import annotations

from typing import Literal, get_args

from sqlalchemy import (
                        Boolean,
                        Column,
                        DateTime,
                        Float,
                        ForeignKey,
                        Index,
                        Integer,
                        MetaData,
                        String,
                        Table,
                        Text,
                        UniqueConstraint,
)

# A link's state (`links.state`):
# creating: intent recorded, the external create may or may not have happened (look the marker up)
# synced: the external record exists and `applied_hash` says what it holds
# gone: a person deleted the record in the target (`gone_at`, `gone_how`); no call is made for it
#   again unless the connector's `on_deleted: recreate` or `syncd links forget` asks for a new one
LinkState = Literal["creating", "synced", "gone"]
LINK_STATES: tuple[LinkState, ...] = get_args(LinkState)
# An inbox event's state (`events.state`), see syncd.store.inbox:
# pending: waiting for a worker (again, after a failure's backoff); running: claimed under a lease;
# done: processed; dead: failed `inbox.max_attempts` times (`syncd events retry` revives it);
# ignored: needs no work (stored so that a replay is still recognised)
EventState = Literal["pending", "running", "done", "dead", "ignored"]
EVENT_STATES: tuple[EventState, ...] = get_args(EventState)

metadata = MetaData()

links = Table(
    "links", metadata,
    Column("id", Integer, primary_key=True),
    Column("ticket_id", String(64), nullable=False),
    Column("connector", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # a LinkState
    Column("external_id", String(255)),
    Column("external_key", String(255)),
    Column("external_url", Text),
    Column("applied_hash", String(64)),
    Column("applied", Text),  # JSON of the desired record last applied: lets a connector diff
    Column("notes_line", Text),  # the write-back line last confirmed in the ticket's notes
    Column("synced_at", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("gone_at", DateTime(timezone=True)),  # when the target first answered "no such record"
    Column("gone_how", Text),  # how: "deleted in JIRA", "message deleted in Slack"
    # when a create was last sent while the record is not known (no external_id): until the target's
    # search is sure to show it, the record may exist (syncd.engine.reconcile, "search lag")
    Column("create_sent_at", DateTime(timezone=True)),
    Column("title", Text),  # 0004: the applied record's title, for the console's search
    UniqueConstraint("ticket_id", "connector", name="uq_links_ticket_connector"),
)
Index("ix_links_connector_state", links.c.connector, links.c.state)

subtask_links = Table(
    "subtask_links", metadata,
    Column("id", Integer, primary_key=True),
    Column("link_id", Integer, ForeignKey("links.id", ondelete="CASCADE"), nullable=False),
    Column("item_key", Text, nullable=False),  # the action item's title: Cogny gives items no ids
    Column("external_id", String(255), nullable=False),
    Column("external_key", String(255)),
    Column("applied_hash", String(64)),
    Column("completed", Boolean, nullable=False, default=False),
    UniqueConstraint("link_id", "item_key", name="uq_subtask_links_item"),
)

events = Table(
    "events", metadata,
    Column("id", Integer, primary_key=True),
    Column("event_id", String(255), nullable=False, unique=True),
    Column("source", String(32), nullable=False, default="cogny"),
    Column("type", String(64), nullable=False),
    Column("ticket_id", String(64)),
    Column("payload", Text, nullable=False),
    Column("state", String(16), nullable=False),  # an EventState
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("claimed_by", String(128)),
    Column("claimed_until", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
Index("ix_events_state_next", events.c.state, events.c.next_attempt_at)
Index("ix_events_ticket", events.c.ticket_id)

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),  # run-once / poll
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("duration_seconds", Float),
    Column("seen", Integer, nullable=False, default=0),
    Column("created", Integer, nullable=False, default=0),
    Column("updated", Integer, nullable=False, default=0),
    Column("unchanged", Integer, nullable=False, default=0),
    Column("failed", Integer, nullable=False, default=0),
    Column("error", Text),
    Column("per_connector", Text),  # 0004: JSON, connector -> action -> count
)

# Sync-back (0002): what each linked record looked like in its target when last read, so only
# a change made *there* since then flows back into Cogny (a change syncd made itself reads back
# as what Cogny already holds and writes nothing).
remote_states = Table(
    "remote_states", metadata,
    Column("link_id", Integer, ForeignKey("links.id", ondelete="CASCADE"), primary_key=True),
    Column("state", Text, nullable=False),  # JSON: category, items, updated_at, Cogny's status then
    Column("observed_at", DateTime(timezone=True), nullable=False),
)

# Secrets a target hands over at run time (Asana's X-Hook-Secret handshake), per connector.
hook_secrets = Table(
    "hook_secrets", metadata,
    Column("connector", String(64), primary_key=True),
    Column("secret", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
Index("ix_links_external_id", links.c.external_id)
Index("ix_subtask_links_external_id", subtask_links.c.external_id)

# The console (0004): each run's failures, and the daemons running on this store (their heartbeat).
run_failures = Table(
    "run_failures", metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("ticket_id", String(64), nullable=False),
    Column("connector", String(64), nullable=False),  # or "ticket" for a failure before any connector
    Column("error", Text),
)
daemons = Table(
    "daemons", metadata,
    Column("instance", String(128), primary_key=True),  # host:pid:random, one per `syncd run`
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("version", String(32), nullable=False),
    Column("config", Text),
    Column("leader", Boolean, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False),
    Column("last_poll_at", DateTime(timezone=True)),
    Column("next_poll_at", DateTime(timezone=True)),
)
Index("ix_run_failures_run", run_failures.c.run_id)
Index("ix_run_failures_connector", run_failures.c.connector, run_failures.c.id)
Index("ix_run_failures_ticket", run_failures.c.ticket_id)
Index("ix_links_external_key", links.c.external_key)
Index("ix_links_connector_synced", links.c.connector, links.c.synced_at)
Index("ix_events_state_id", events.c.state, events.c.id)
Index("ix_events_type_id", events.c.type, events.c.id)
Index("ix_events_received", events.c.received_at)
Index("ix_links_failed", links.c.connector, sqlite_where=links.c.last_error.is_not(None),
      postgresql_where=links.c.last_error.is_not(None))
Index("ix_links_title", links.c.title, links.c.ticket_id)
