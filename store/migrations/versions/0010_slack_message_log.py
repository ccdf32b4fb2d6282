"""Every Slack message the app posted, for erasure (issue 13)

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_message_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("ts", sa.String(length=32), nullable=False),
        sa.Column("thread_ts", sa.String(length=32), nullable=True),
        sa.Column("lead_id", sa.String(length=40), nullable=True),
        sa.Column("conversation_id", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erasure_id", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "ts", name="uq_slack_message_log_message"),
    )
    op.create_index("ix_slack_message_log_lead_id", "slack_message_log", ["lead_id"])
    op.create_index("ix_slack_message_log_conversation_id", "slack_message_log",
                    ["conversation_id"])
    op.create_index("ix_slack_message_log_erasure_id", "slack_message_log", ["erasure_id"])


def downgrade() -> None:
    op.drop_index("ix_slack_message_log_erasure_id", table_name="slack_message_log")
    op.drop_index("ix_slack_message_log_conversation_id", table_name="slack_message_log")
    op.drop_index("ix_slack_message_log_lead_id", table_name="slack_message_log")
    op.drop_table("slack_message_log")
