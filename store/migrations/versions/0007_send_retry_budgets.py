"""Outbox retry state and job time budgets (issue 12: nothing approved is lost)

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("last_error", sa.Text(), nullable=True))
        batch.add_column(sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True),
                                   nullable=True))
    # Parked jobs are listed by kind; outbox rows by status, oldest first.
    op.create_index("ix_jobs_failed", "jobs", ["failed_at", "kind"])


def downgrade() -> None:
    op.drop_index("ix_jobs_failed", table_name="jobs")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("next_attempt_at")
        batch.drop_column("failing_since")
        batch.drop_column("last_error")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("failing_since")
