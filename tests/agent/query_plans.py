"""The plan a database chooses for a statement, as text (shared by the content-check tests that
require index searches rather than scans)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection


def query_plan(conn: Connection, statement: Any, params: dict[str, Any]) -> str:
    """SQLite's EXPLAIN QUERY PLAN, or PostgreSQL's EXPLAIN with sequential scans priced out
    (so a plan that still scans has no index to use)."""
    compiled = statement.compile(dialect=conn.dialect)
    values = compiled.construct_params(params)
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled),
                                    tuple(values[n] for n in compiled.positiontup or ()))
        return "\n".join(str(row[-1]) for row in rows)
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    return "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + str(compiled), values))
