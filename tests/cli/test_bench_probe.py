"""The bench's store probe reads the server's tables with bound parameters, on both dialects."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from bench.probe import StoreProbe
from service.jobs import enqueue
from store.db import Database
from store.tables import Job

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest) -> Iterator[Database]:
    url_fixture = "database_url" if request.param == "sqlite" else "postgres_url"
    database = Database(request.getfixturevalue(url_fixture))
    database.upgrade()
    yield database
    database.dispose()


def test_open_jobs_leaves_out_the_timers_that_requeue_themselves(db: Database) -> None:
    with db.session() as session:
        enqueue(session, "draft", {"lead_id": "l1"}, now=NOW)
        enqueue(session, "send_email", {"outbox_id": "o1"}, now=NOW)
        enqueue(session, "sla_check", {}, now=NOW)
        enqueue(session, "slack_sla_reminder", {}, now=NOW)
        # a timer of any kind: queued for days from now, never tried (not a backlog) ...
        enqueue(session, "no_response_check", {"lead_id": "l1"}, now=NOW,
                run_at=NOW + timedelta(days=7))
        # ... unlike work retrying later, which is still open
        enqueue(session, "crm_lead_status", {}, now=NOW, run_at=NOW + timedelta(minutes=5))
        session.execute(update(Job).where(Job.kind == "crm_lead_status").values(attempts=2))
    probe = StoreProbe(db.url)
    try:
        assert probe.open_jobs() == 3
        assert probe.failed_jobs() == []
    finally:
        probe.dispose()


def test_list_parameters_are_bound_values_not_sql(db: Database) -> None:
    with db.session() as session:
        enqueue(session, "draft", {"lead_id": "l1"}, now=NOW)
        enqueue(session, "send_email", {"outbox_id": "o1"}, now=NOW)
    probe = StoreProbe(db.url)
    try:
        # Spliced into the SQL, the quote would widen the filter to every row.
        kinds = probe.rows("SELECT kind FROM jobs WHERE kind IN :kinds",
                           kinds={"draft", "x' OR '1'='1"})
        assert [row[0] for row in kinds] == ["draft"]
        assert probe.lead_emails(set()) == []
        assert probe.lead_emails({"a' OR '1'='1"}) == []
    finally:
        probe.dispose()
