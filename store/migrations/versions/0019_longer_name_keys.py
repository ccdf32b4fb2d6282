"""Lengthen the keys of names the content check looks up from 10 characters to 20

A key of 10 characters put every name sharing its first ten in one bucket: "University of
Texas" with every other "University ...", and each lead of a large account ("Northwind
Traders Ltd") with all its colleagues. A draft naming one of them read the whole bucket, so
its check cost grew with the store. With 20, a name of up to 20 characters (almost every
person's and most companies') is its own key and is found exactly; the lead's own ones are
not searched at all.

On PostgreSQL the tables are analyzed at once: a new expression index has no statistics until
then (autovacuum waits for a tenth of the table to change), and without them the planner takes
each of a draft's few hundred keys to match 0.5% of the leads and reads the whole table instead
(34 ms a draft at 20,000 leads, against 1.2 ms through the indexes).

Revision ID: 0019
Revises: 0018
"""
import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

# (index, table, column); the expression must stay store.tables.base.name_key's.
_NAME_KEYS = (
    ("ix_leads_first_name_key", "leads", "first_name"),
    ("ix_leads_last_name_key", "leads", "last_name"),
    ("ix_leads_company_key", "leads", "company"),
    ("ix_support_conversations_customer_name_key", "support_conversations", "customer_name"),
)


def _rebuild(chars: int) -> None:
    for name, table, column in _NAME_KEYS:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, [sa.text(f"substr(lower({column}), 1, {chars})")])
    if op.get_bind().dialect.name == "postgresql":
        for table in dict.fromkeys(table for _, table, _ in _NAME_KEYS):
            op.execute(f"ANALYZE {table}")


def upgrade() -> None:
    _rebuild(20)


def downgrade() -> None:
    _rebuild(10)
