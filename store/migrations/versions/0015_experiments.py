"""Experiments: assignments, outcomes as they happen, and stops (issue 19)

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "experiment_assignments",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("experiment", sa.String(length=64), nullable=False),
        sa.Column("lead_id", sa.String(length=40), nullable=False),
        sa.Column("variant", sa.String(length=64), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("policy_version", sa.String(length=64), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("experiment", "lead_id", name="uq_experiment_lead"),
    )
    op.create_index("ix_experiment_assignments_lead_id", "experiment_assignments", ["lead_id"])
    op.create_table(
        "experiment_outcomes",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("dedupe_key", sa.String(length=300), nullable=False),
        sa.Column("experiment", sa.String(length=64), nullable=False),
        sa.Column("variant", sa.String(length=64), nullable=False),
        sa.Column("lead_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("approval_id", sa.String(length=40), nullable=True),
        sa.Column("outbox_id", sa.String(length=40), nullable=True),
        sa.Column("event_id", sa.String(length=200), nullable=True),
        sa.Column("reason_code", sa.String(length=32), nullable=True),
        sa.Column("edit_ratio", sa.Float(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
    )
    op.create_index("ix_experiment_outcomes_lead_id", "experiment_outcomes", ["lead_id"])
    op.create_index("ix_experiment_outcomes_approval_id", "experiment_outcomes", ["approval_id"])
    op.create_index("ix_experiment_outcomes_experiment", "experiment_outcomes",
                    ["experiment", "variant", "kind"])
    op.create_table(
        "experiment_stops",
        sa.Column("experiment", sa.String(length=64), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_by", sa.String(length=320), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("experiment"),
    )


def downgrade() -> None:
    op.drop_table("experiment_stops")
    op.drop_index("ix_experiment_outcomes_experiment", table_name="experiment_outcomes")
    op.drop_index("ix_experiment_outcomes_approval_id", table_name="experiment_outcomes")
    op.drop_index("ix_experiment_outcomes_lead_id", table_name="experiment_outcomes")
    op.drop_table("experiment_outcomes")
    op.drop_index("ix_experiment_assignments_lead_id", table_name="experiment_assignments")
    op.drop_table("experiment_assignments")
