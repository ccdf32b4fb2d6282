"""Index decisions by actor and action (a rep's recent edits, read before every model draft)

Revision ID: 0005
Revises: 0004
"""
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_decisions_actor_action", "decisions", ["actor", "action", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_decisions_actor_action", table_name="decisions")
