"""CRM connectors: vendor identities (Segment userId / anonymousId) -> leads (issue 16)

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crm_identities",
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("lead_id", sa.String(length=40), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("source", "external_id"),
    )
    op.create_index("ix_crm_identities_lead_id", "crm_identities", ["lead_id"])


def downgrade() -> None:
    op.drop_index("ix_crm_identities_lead_id", table_name="crm_identities")
    op.drop_table("crm_identities")
