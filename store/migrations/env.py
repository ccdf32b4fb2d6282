"""Alembic environment: runs on the connection `Database.upgrade()` hands over."""

from alembic import context

from store.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only `alembic` CLI use without hitl
    raise RuntimeError("run migrations with `hitl db upgrade`")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
