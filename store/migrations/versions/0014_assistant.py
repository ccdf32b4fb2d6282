"""The rep's assistant: replies (with feedback) and proposals awaiting approval (issue 17)

Revision ID: 0014
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
# 0013 was not written when this landed: whoever adds 0013 (revising 0012) moves this to "0013".
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assistant_replies",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("conversation_key", sa.String(length=200), nullable=False),
        sa.Column("member_key", sa.String(length=320), nullable=False),
        sa.Column("tools_used", sa.JSON(), nullable=False),
        sa.Column("lead_ids", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("helpful", sa.Boolean(), nullable=True),
        sa.Column("feedback_at", sa.DateTime(timezone=True), nullable=True),
        # The ask's idempotency key (added in place, before any database had this revision).
        sa.Column("message_key", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_assistant_replies_member", "assistant_replies",
                    ["member_key", "created_at"])
    op.create_index("ux_assistant_replies_message", "assistant_replies",
                    ["member_key", "message_key"], unique=True)
    op.create_table(
        "assistant_proposals",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("reply_id", sa.String(length=40), nullable=False),
        sa.Column("conversation_key", sa.String(length=200), nullable=False),
        sa.Column("member_key", sa.String(length=320), nullable=False),
        sa.Column("lead_id", sa.String(length=40), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("executed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_assistant_proposals_reply_id", "assistant_proposals", ["reply_id"])
    op.create_index("ix_assistant_proposals_member_key", "assistant_proposals", ["member_key"])
    op.create_index("ix_assistant_proposals_lead_id", "assistant_proposals", ["lead_id"])
    # Each conversation's turn lease (service.turn_lease); added the same day, before release.
    op.create_table(
        "assistant_conversations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("busy_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("assistant_conversations")
    op.drop_table("assistant_proposals")
    op.drop_index("ux_assistant_replies_message", table_name="assistant_replies")
    op.drop_index("ix_assistant_replies_member", table_name="assistant_replies")
    op.drop_table("assistant_replies")
