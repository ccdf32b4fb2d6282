"""Migration 0019 lengthens the name keys of the content check's search (10 -> 20 characters)
on a store that already has leads, and on PostgreSQL the search uses the new indexes at once:
a new expression index has no statistics until its table is analyzed, and without them the
planner reads every lead for each draft (autovacuum would analyze only after a tenth of the
table changed)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, text

from agent.guardrails import LeadIdentity
from store.db import Database

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ME = LeadIdentity(email="p0@x0.io", first_name="Ada", last_name="Lovelace", company="Acme")
TEXT = ("Hi Ada,\n\nThanks for your recent demo request. Teams like Acme usually reach out when "
        "they want to see how the workflow fits their own process.\n\nBest,\nRiley Rep")


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_an_existing_store_searches_names_by_the_new_indexes_once_migrated(
        database_url: str) -> None:
    from service.name_search import (
        _candidate_keys,
        _candidate_search,
        _haystack,
        _keys_parameter,
    )
    from store.tables import Lead

    db = Database(database_url)
    try:
        db.upgrade(to="0018")
        with db.session() as session:
            session.execute(insert(Lead), [
                {"id": f"lead{i}", "email": f"p{i}@x{i}.io", "first_name": f"First{i}",
                 "last_name": f"Last{i}", "company": f"Company{i} Holdings", "stage": "new",
                 "disqualifiers": [], "created_at": NOW, "updated_at": NOW}
                for i in range(5000)])
        # The table as autovacuum left it before the migration: analyzed, old keys and all.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE leads"))
        db.upgrade()
        statement = _candidate_search("postgresql", True)
        params = {"keys": _keys_parameter("postgresql", _candidate_keys(TEXT)),
                  "haystack": _haystack(TEXT), "lead_id": "lead0", "lead_email": ME.email,
                  "own_first_name": "Ada", "own_last_name": "Lovelace", "own_company": "Acme"}
        with db.read() as session:
            conn = session.connection()
            compiled = statement.compile(dialect=conn.dialect)
            plan = "\n".join(row[0] for row in conn.exec_driver_sql(
                "EXPLAIN " + str(compiled), compiled.construct_params(params)))
        for index in ("ix_leads_first_name_key", "ix_leads_last_name_key",
                      "ix_leads_company_key"):
            assert index in plan, plan
        assert "Seq Scan on leads" not in plan, plan
    finally:
        db.dispose()
