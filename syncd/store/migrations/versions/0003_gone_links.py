"""links that people deleted in the target: when and how it was seen (state `gone`)

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.add_column(sa.Column("gone_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("gone_how", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.drop_column("gone_how")
        batch.drop_column("gone_at")
