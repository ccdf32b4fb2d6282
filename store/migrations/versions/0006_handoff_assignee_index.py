"""Index handoffs by assignee and start time (round robin reads each rep's latest assignment)

Revision ID: 0006
Revises: 0005
"""
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_handoffs_assignee_created", "handoffs", ["assignee", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_handoffs_assignee_created", table_name="handoffs")
