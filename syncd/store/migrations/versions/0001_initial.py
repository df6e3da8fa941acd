"""initial schema: links, subtask_links, events, runs

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "links",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("ticket_id", sa.String(64), nullable=False),
        sa.Column("connector", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("external_id", sa.String(255)),
        sa.Column("external_key", sa.String(255)),
        sa.Column("external_url", sa.Text),
        sa.Column("applied_hash", sa.String(64)),
        sa.Column("applied", sa.Text),
        sa.Column("notes_line", sa.Text),
        sa.Column("synced_at", TS),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("ticket_id", "connector", name="uq_links_ticket_connector"),
    )
    op.create_index("ix_links_connector_state", "links", ["connector", "state"])
    op.create_table(
        "subtask_links",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("link_id", sa.Integer, sa.ForeignKey("links.id", ondelete="CASCADE"), nullable=False),
        sa.Column("item_key", sa.Text, nullable=False),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("external_key", sa.String(255)),
        sa.Column("applied_hash", sa.String(64)),
        sa.Column("completed", sa.Boolean, nullable=False),
        sa.UniqueConstraint("link_id", "item_key", name="uq_subtask_links_item"),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("event_id", sa.String(255), nullable=False, unique=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("ticket_id", sa.String(64)),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", TS),
        sa.Column("claimed_by", sa.String(128)),
        sa.Column("claimed_until", TS),
        sa.Column("last_error", sa.Text),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_events_state_next", "events", ["state", "next_attempt_at"])
    op.create_index("ix_events_ticket", "events", ["ticket_id"])
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS),
        sa.Column("duration_seconds", sa.Float),
        sa.Column("seen", sa.Integer, nullable=False),
        sa.Column("created", sa.Integer, nullable=False),
        sa.Column("updated", sa.Integer, nullable=False),
        sa.Column("unchanged", sa.Integer, nullable=False),
        sa.Column("failed", sa.Integer, nullable=False),
        sa.Column("error", sa.Text),
    )


def downgrade() -> None:
    for table in ("runs", "events", "subtask_links", "links"):
        op.drop_table(table)
