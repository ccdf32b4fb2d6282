"""slack surface: card locations and event receipts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 12:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('slack_cards',
    sa.Column('approval_id', sa.String(length=40), nullable=False),
    sa.Column('handoff_id', sa.String(length=40), nullable=False),
    sa.Column('lead_id', sa.String(length=40), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('assignee', sa.String(length=320), nullable=False),
    sa.Column('channel', sa.String(length=40), nullable=False),
    sa.Column('ts', sa.String(length=32), nullable=False),
    sa.Column('thread_ts', sa.String(length=32), nullable=False),
    sa.Column('history_posted', sa.Boolean(), nullable=False),
    sa.Column('posted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('approval_id')
    )
    with op.batch_alter_table('slack_cards', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_slack_cards_handoff_id'), ['handoff_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_slack_cards_lead_id'), ['lead_id'], unique=False)
        batch_op.create_index('ix_slack_cards_thread', ['channel', 'thread_ts'], unique=False)

    op.create_table('slack_event_receipts',
    sa.Column('event_key', sa.String(length=200), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('event_key')
    )
    with op.batch_alter_table('slack_event_receipts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_slack_event_receipts_received_at'), ['received_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('slack_event_receipts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_slack_event_receipts_received_at'))

    op.drop_table('slack_event_receipts')
    with op.batch_alter_table('slack_cards', schema=None) as batch_op:
        batch_op.drop_index('ix_slack_cards_thread')
        batch_op.drop_index(batch_op.f('ix_slack_cards_lead_id'))
        batch_op.drop_index(batch_op.f('ix_slack_cards_handoff_id'))

    op.drop_table('slack_cards')
