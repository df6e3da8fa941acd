"""the console: titles to search, per-connector run counts and failures, daemon heartbeats, indexes

Revision ID: 0004
Revises: 0003
"""
import json

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.add_column(sa.Column("title", sa.Text))
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("per_connector", sa.Text))
    _backfill_titles()
    op.create_table(
        "run_failures",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("ticket_id", sa.String(64), nullable=False),
        sa.Column("connector", sa.String(64), nullable=False),
        sa.Column("error", sa.Text),
    )
    op.create_table(
        "daemons",
        sa.Column("instance", sa.String(128), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("config", sa.Text),
        sa.Column("leader", sa.Boolean, nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("heartbeat_at", TS, nullable=False),
        sa.Column("last_poll_at", TS),
        sa.Column("next_poll_at", TS),
    )
    # The console's pages: each one reads an index, never a whole table.
    op.create_index("ix_run_failures_run", "run_failures", ["run_id"])
    op.create_index("ix_run_failures_connector", "run_failures", ["connector", "id"])
    op.create_index("ix_run_failures_ticket", "run_failures", ["ticket_id"])
    op.create_index("ix_links_external_key", "links", ["external_key"])
    op.create_index("ix_links_connector_synced", "links", ["connector", "synced_at"])
    op.create_index("ix_events_state_id", "events", ["state", "id"])
    op.create_index("ix_events_type_id", "events", ["type", "id"])
    op.create_index("ix_events_received", "events", ["received_at"])
    # failed records per connector (a partial index: few rows), and title search as an index-only scan
    failed = sa.text("last_error IS NOT NULL")
    op.create_index("ix_links_failed", "links", ["connector"], sqlite_where=failed, postgresql_where=failed)
    op.create_index("ix_links_title", "links", ["title", "ticket_id"])


def _backfill_titles() -> None:
    """links.title from the record last applied (JIRA summary, Linear title, Asana name, Slack text)."""
    conn = op.get_bind()
    links = sa.table("links", sa.column("id", sa.Integer), sa.column("applied", sa.Text),
                     sa.column("title", sa.Text))
    rows = conn.execute(sa.select(links.c.id, links.c.applied).where(links.c.applied.is_not(None))).all()
    updates = [{"i": i, "t": title_of(applied)} for i, applied in rows]
    if updates:
        conn.execute(links.update().where(links.c.id == sa.bindparam("i")).values(title=sa.bindparam("t")),
                     updates)


def title_of(applied: str | None) -> str | None:
    try:
        record = (json.loads(applied) or {}).get("record") or {} if applied else {}
    except ValueError:
        return None
    for key in ("title", "summary", "name", "text"):
        if isinstance(record.get(key), str):
            return record[key][:500]
    return None


def downgrade() -> None:
    for name, table in (("ix_links_title", "links"), ("ix_links_failed", "links"), ("ix_events_received", "events"), ("ix_events_type_id", "events"),
                        ("ix_events_state_id", "events"), ("ix_links_connector_synced", "links"),
                        ("ix_links_external_key", "links")):
        op.drop_index(name, table)
    op.drop_table("daemons")
    op.drop_table("run_failures")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("per_connector")
    with op.batch_alter_table("links") as batch:
        batch.drop_column("title")
