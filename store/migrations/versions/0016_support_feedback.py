"""Support feedback: ratings of resolved conversations and callbacks (issue 19 item 4)

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "support_ratings",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("conversation_id", sa.String(length=64), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("path", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=True),
        sa.Column("agent", sa.String(length=320), nullable=True),
        sa.Column("transfer_id", sa.String(length=40), nullable=True),
        sa.Column("rated_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("followup_to", sa.String(length=320), nullable=True),
        sa.Column("followup_via", sa.String(length=16), nullable=True),
        sa.Column("followup_done_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["conversation_id"], ["support_conversations.id"],
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conversation_id", "epoch", name="uq_support_rating"),
    )
    op.create_index("ix_support_ratings_conversation_id", "support_ratings",
                    ["conversation_id"])
    op.create_index("ix_support_ratings_created_at", "support_ratings", ["created_at"])
    op.create_table(
        "support_callbacks",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("conversation_id", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("asked", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=320), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("breaches", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalated_to", sa.String(length=320), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_by", sa.String(length=320), nullable=True),
        sa.Column("notified", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["support_conversations.id"],
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id"),
    )
    op.create_index("ix_support_callbacks_conversation_id", "support_callbacks",
                    ["conversation_id"])
    op.create_index("ix_support_callbacks_due_at", "support_callbacks", ["due_at"])
    op.create_index("ix_support_callbacks_status", "support_callbacks", ["status"])


def downgrade() -> None:
    op.drop_index("ix_support_callbacks_status", table_name="support_callbacks")
    op.drop_index("ix_support_callbacks_due_at", table_name="support_callbacks")
    op.drop_index("ix_support_callbacks_conversation_id", table_name="support_callbacks")
    op.drop_table("support_callbacks")
    op.drop_index("ix_support_ratings_created_at", table_name="support_ratings")
    op.drop_index("ix_support_ratings_conversation_id", table_name="support_ratings")
    op.drop_table("support_ratings")
