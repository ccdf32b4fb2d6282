"""A run that outlived its lease and was claimed again finishes without touching the newer claim.

The worker renews a running job's lease for an hour at most (MAX_RENEWED_RUN); past that the
job is taken to be hung, and another worker may claim it again. If the first run then ends
after all, its completion, its retry and its parking are the newer run's to decide: each is
fenced by the claim's number (`attempts`), on SQLite and PostgreSQL alike. The clock is given."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from service import jobs
from store.db import Database
from store.tables import Job

LEASE = timedelta(minutes=5)
T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url = (f"sqlite:///{tmp_path / 'queue.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_url"))
    database = Database(url)
    database.upgrade()
    yield database
    database.engine.dispose()


def _claimed_twice(db: Database) -> tuple[jobs.ClaimedJob, jobs.ClaimedJob]:
    """The same job claimed by a first worker, then, its lease lapsed, by a second."""
    with db.transaction() as connection:
        jobs.enqueue(connection, "slow", {"n": 1}, now=T0)
    [first] = jobs.claim(db, now=T0, lease=LEASE, limit=1)
    later = T0 + LEASE + timedelta(seconds=1)
    [second] = jobs.claim(db, now=later, lease=LEASE, limit=1)
    assert (second.id, second.attempts) == (first.id, first.attempts + 1)
    return first, second


def _row(db: Database, job_id: int) -> Any:
    with db.read_connection() as connection:
        return connection.execute(select(Job.__table__).where(Job.id == job_id)).first()


def test_the_late_first_run_does_not_complete_the_second(db: Database) -> None:
    first, second = _claimed_twice(db)

    jobs.complete(db, first)
    row = _row(db, first.id)
    assert row is not None and row.attempts == second.attempts  # still the second's
    assert row.locked_until is not None

    jobs.complete(db, second)
    assert _row(db, first.id) is None


def test_the_late_first_run_does_not_reschedule_the_second(db: Database) -> None:
    first, second = _claimed_twice(db)
    before = _row(db, first.id)

    assert jobs.retry_later(db, first, "RetryLater: Slack down", now=T0 + LEASE * 2,
                            budget=timedelta(hours=72)) is True
    row = _row(db, first.id)
    assert (row.run_at, row.locked_until, row.last_error, row.failing_since) == (
        before.run_at, before.locked_until, None, None)


def test_the_late_first_run_does_not_park_the_second(db: Database) -> None:
    """A job failing since T0 whose retry budget is spent when its lapsed run ends: that run
    would park it, but the job is no longer its to park (and it is not counted as parked)."""
    with db.transaction() as connection:
        jobs.enqueue(connection, "slow", {"n": 3}, now=T0)
    [failing] = jobs.claim(db, now=T0, lease=LEASE, limit=1)
    jobs.retry_later(db, failing, "RetryLater: down", now=T0, budget=timedelta(hours=72))
    due = _row(db, failing.id).run_at
    [first] = jobs.claim(db, now=due, lease=LEASE, limit=1)
    [second] = jobs.claim(db, now=due + LEASE + timedelta(seconds=1), lease=LEASE, limit=1)
    assert first.failing_since == second.failing_since == T0

    spent = T0 + timedelta(days=4)
    assert jobs.retry_later(db, first, "Boom", now=spent, budget=timedelta(hours=72)) is True
    row = _row(db, first.id)
    assert row.failed_at is None and row.last_error == "RetryLater: down"

    # The second run's own failure, past the budget, parks it as before.
    assert jobs.retry_later(db, second, "Boom", now=spent, budget=timedelta(hours=72)) is False
    assert _row(db, first.id).failed_at is not None


def test_the_claim_that_holds_the_job_completes_and_retries_it(db: Database) -> None:
    """The fence lets the current claim through (the common case)."""
    with db.transaction() as connection:
        jobs.enqueue(connection, "slow", {"n": 2}, now=T0)
    [job] = jobs.claim(db, now=T0, lease=LEASE, limit=1)
    assert jobs.retry_later(db, job, "RetryLater: busy", now=T0,
                            budget=timedelta(hours=72)) is True
    row = _row(db, job.id)
    assert row.last_error == "RetryLater: busy" and row.run_at > T0 and row.locked_until is None

    [again] = jobs.claim(db, now=row.run_at, lease=LEASE, limit=1)
    jobs.complete(db, again)
    assert _row(db, job.id) is None
