"""sync-back: remote_states, hook_secrets, look-ups by external id

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "remote_states",
        sa.Column("link_id", sa.Integer, sa.ForeignKey("links.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("observed_at", TS, nullable=False),
    )
    op.create_table(
        "hook_secrets",
        sa.Column("connector", sa.String(64), primary_key=True),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    # A target's webhook names its record; these find the ticket it mirrors.
    op.create_index("ix_links_external_id", "links", ["external_id"])
    op.create_index("ix_subtask_links_external_id", "subtask_links", ["external_id"])


def downgrade() -> None:
    op.drop_index("ix_subtask_links_external_id", "subtask_links")
    op.drop_index("ix_links_external_id", "links")
    op.drop_table("hook_secrets")
    op.drop_table("remote_states")
