"""Conversation ownership tokens (issue 13)

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: conversations started before this revision have no token; their first
    # customer email (customer_email) still owns them.
    with op.batch_alter_table("support_conversations") as batch:
        batch.add_column(sa.Column("token_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("support_conversations") as batch:
        batch.drop_column("token_hash")
