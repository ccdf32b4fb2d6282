"""support conversations: conversations, messages and warm transfers

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 13:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "support_conversations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("customer_email", sa.String(length=320), nullable=True),
        sa.Column("customer_name", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("owner", sa.String(length=320), nullable=True),
        sa.Column("transfer_id", sa.String(length=40), nullable=True),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("busy_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_support_conversations_customer_email", "support_conversations",
                    ["customer_email"])

    op.create_table(
        "support_messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("conversation_id", sa.String(length=64), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=320), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reply_to", sa.Integer(), nullable=True),
        sa.Column("transfer_id", sa.String(length=40), nullable=True),
        sa.Column("source_key", sa.String(length=200), nullable=True),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("slack_ts", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["conversation_id"], ["support_conversations.id"],
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_key"),
    )
    op.create_index("ix_support_messages_conversation", "support_messages",
                    ["conversation_id", "id"])
    op.create_index("ix_support_messages_transfer_id", "support_messages", ["transfer_id"])

    op.create_table(
        "support_transfers",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("conversation_id", sa.String(length=64), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("trigger_detail", sa.Text(), nullable=False),
        sa.Column("also", sa.JSON(), nullable=False),
        sa.Column("bot_could_answer", sa.Boolean(), nullable=False),
        sa.Column("trigger_message_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("owner", sa.String(length=320), nullable=True),
        sa.Column("package", sa.JSON(), nullable=False),
        sa.Column("policy_version", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalated_to", sa.String(length=320), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=320), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("slack_channel", sa.String(length=40), nullable=True),
        sa.Column("slack_ts", sa.String(length=32), nullable=True),
        sa.Column("transcript_posted", sa.Boolean(), nullable=False),
        sa.Column("escalation_posted", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["support_conversations.id"],
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("trigger_message_id"),
    )
    op.create_index("ix_support_transfers_conversation_id", "support_transfers",
                    ["conversation_id"])
    op.create_index("ix_support_transfers_trigger", "support_transfers", ["trigger"])
    op.create_index("ix_support_transfers_status", "support_transfers", ["status"])
    op.create_index("ix_support_transfers_created_at", "support_transfers", ["created_at"])
    op.create_index("ix_support_transfers_card", "support_transfers",
                    ["slack_channel", "slack_ts"])
    op.create_index("uq_support_transfers_one_active", "support_transfers", ["conversation_id"],
                    unique=True, sqlite_where=sa.text("active"),
                    postgresql_where=sa.text("active"))


def downgrade() -> None:
    op.drop_table("support_transfers")
    op.drop_table("support_messages")
    op.drop_index("ix_support_conversations_customer_email", "support_conversations")
    op.drop_table("support_conversations")
