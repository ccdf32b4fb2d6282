"""Record when an outbox message was handed to the mail server

A send that stopped after the DATA command and before the server's answer (a crash, a
connection lost while the server delivered) may have been delivered: `handed_over_at` lets the
next attempt see that and park the message for a person instead of sending it twice.

Revision ID: 0018
Revises: 0017
"""
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("handed_over_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("handed_over_at")
