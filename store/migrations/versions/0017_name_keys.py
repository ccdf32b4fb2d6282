"""Index the keys of names (the content check's lookup) and approvals by (status, assignee)

The content check looked for other leads' names by testing every lead against the draft; it
now looks up keys derived from the draft's words in expression indexes on
`substr(lower(name), 1, 10)` (store.tables.base.name_key). Routing's count of pending
approvals per assignee is answered from (status, assignee), which also serves what the index
on status alone did.

Revision ID: 0017
Revises: 0016
"""
import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# (index, table, column); the expression must stay store.tables.base.name_key's.
_NAME_KEYS = (
    ("ix_leads_first_name_key", "leads", "first_name"),
    ("ix_leads_last_name_key", "leads", "last_name"),
    ("ix_leads_company_key", "leads", "company"),
    ("ix_support_conversations_customer_name_key", "support_conversations", "customer_name"),
)


def upgrade() -> None:
    for name, table, column in _NAME_KEYS:
        op.create_index(name, table, [sa.text(f"substr(lower({column}), 1, 10)")])
    op.create_index("ix_approvals_status_assignee", "approvals", ["status", "assignee"])
    op.drop_index("ix_approvals_status", table_name="approvals")


def downgrade() -> None:
    op.create_index("ix_approvals_status", "approvals", ["status"])
    op.drop_index("ix_approvals_status_assignee", table_name="approvals")
    for name, table, _ in reversed(_NAME_KEYS):
        op.drop_index(name, table_name=table)
