"""A durable job queue in the application's own database.

Why not Celery/RQ/procrastinate: the embedded default has no broker and must run on SQLite, and the
scale-out path is PostgreSQL. A jobs table with leases covers both: on PostgreSQL the claim uses
`FOR UPDATE SKIP LOCKED`, so N replicas never run the same job; on SQLite `BEGIN IMMEDIATE`
serialises claims. Jobs are retried with capped, jittered exponential backoff for a budget of
*time* (not attempts: an outage lasts minutes or hours whatever the attempt count), then stay in
the table with `failed_at` set: listed by `GET /v1/jobs?status=failed`, counted in metrics and
retryable by hand (`POST /v1/jobs/{id}/retry`). Nothing is silently dropped.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Literal

from sqlalchemy import (
    Connection,
    Table,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from config.settings import Settings
from store.db import Database
from store.tables import Job

log = logging.getLogger(__name__)

# Core statements on the table, not ORM ones on the class: these run several times per lead, and
# the ORM's bulk-insert and bulk-update bookkeeping (syncing loaded objects) is work nobody here
# needs. Built once, so SQLAlchemy's compiled cache serves every execution.
_JOBS: Table = Job.__table__  # type: ignore[assignment]

# Backoff doubles from 2 s and is capped at 15 minutes: after about ten failures a job is tried
# four times an hour, whatever its budget.
BACKOFF_CAP = timedelta(minutes=15)


# A failing job's watchers hear of it again at a retry this far off or more: the first retries
# are seconds apart (an outage that held up a hundred cards would otherwise redraw each of them
# ten times in its first minutes, past Slack's rate limit for chat.update).
RETELL_FROM_DELAY = timedelta(minutes=1)


def backoff(attempts: int, *, rng: random.Random | None = None) -> timedelta:
    """Delay before attempt `attempts + 1`: "equal jitter" (half fixed, half random), so a burst
    of jobs that failed together does not retry together."""
    ceiling = min(BACKOFF_CAP.total_seconds(), 2.0 ** max(attempts, 1))
    return timedelta(seconds=ceiling / 2 + (rng or random).uniform(0, ceiling / 2))


class RetryLater(Exception):
    """A transient failure (SMTP 4xx, Slack 429, a lease held elsewhere): the job runner
    retries with backoff, no sooner than `retry_after` seconds when the other side said so."""

    def __init__(self, message: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


SLACK_FAILURE = "slack_failure"


def from_slack(error: BaseException) -> bool:
    """Whether a job failed because Slack refused a call or could not be reached: the Slack
    surface marks what it raises then (`slack_app.web`, `SLACK_FAILURE`), so the service can
    tell Slack's outage from its own errors without importing the Slack surface."""
    return getattr(error, SLACK_FAILURE, False) is True


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    failing_since: datetime | None = None


# The job the calling thread's handler is running (service.worker sets it around the call).
_RUNNING: ContextVar[ClaimedJob | None] = ContextVar("hitl_running_job", default=None)


def running_attempt() -> int:
    """Which attempt at its job the calling handler is: 1 the first, 0 outside a job. A handler
    whose effect outside the store cannot be made twice safely (a Slack message) looks for what
    an earlier attempt may have done before it acts again."""
    job = _RUNNING.get()
    return job.attempts if job is not None else 0


@contextmanager
def running(job: ClaimedJob) -> Iterator[None]:
    """`running_attempt()` answers for `job` while the block runs."""
    token = _RUNNING.set(job)
    try:
        yield
    finally:
        _RUNNING.reset(token)


def insert_ignoring_conflicts(session: Session, table: Any, rows: list[dict[str, Any]],
                              conflict: list[str]) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING on SQLite and PostgreSQL alike."""
    # On the Core table even when given a mapped class: the ORM's bulk-insert path adds nothing
    # here but per-call work (and keeps the statement out of the compiled cache).
    target = getattr(table, "__table__", table)
    return insert_unless_present(session.get_bind().dialect.name, target,
                                 tuple(conflict)).values(rows)


@cache
def insert_unless_present(dialect: str, table: Table, conflict: tuple[str, ...]) -> Any:
    """INSERT into `table` unless a row with the same `conflict` columns exists (ON CONFLICT DO
    NOTHING), built once per table: execute it with the row as parameters."""
    dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return dialect_insert(table).on_conflict_do_nothing(index_elements=list(conflict))


def enqueue(session: Session | Connection, kind: str, payload: dict[str, Any], *, now: datetime,
            dedupe_key: str | None = None, run_at: datetime | None = None) -> None:
    """Queue work inside the caller's transaction (a Session's, or a Core connection's): it
    exists exactly when that commit does."""
    row = {"kind": kind, "payload": payload, "dedupe_key": dedupe_key,
           "run_at": run_at or now, "attempts": 0, "created_at": now}
    # On the transaction's connection: a Core insert needs none of the ORM's execution steps.
    connection = session if isinstance(session, Connection) else session.connection()
    if dedupe_key is None:
        connection.execute(_INSERT, row)
    else:
        connection.execute(insert_unless_present(connection.dialect.name, _JOBS,
                                                 ("dedupe_key",)), row)


def claim(db: Database, *, now: datetime, lease: timedelta, limit: int,
          kinds: tuple[str, ...] | None = None) -> list[ClaimedJob]:
    """Take up to `limit` due jobs for this worker, leased until `now + lease`."""
    # Most polls find nothing: look in a read-only Core transaction (no writer lock, no
    # Session) before taking the write lock for a claim.
    with db.read_connection() as connection:
        if connection.execute(_ANY_DUE[db.is_sqlite], {"now": now}).first() is None:
            return []
    with db.transaction() as connection:
        return _claim_in(connection, db, now=now, lease=lease, limit=limit, kinds=kinds)


def complete(db: Database, job: ClaimedJob, *, claim_next: bool = False,
             now: datetime | None = None, lease: timedelta | None = None,
             kinds: tuple[str, ...] | None = None) -> ClaimedJob | None:
    """Delete a finished job; with `claim_next`, take the next due job in the same transaction.

    Fenced by the claim: a job whose lease lapsed while it ran (past MAX_RENEWED_RUN, taken to
    be hung) and that another worker claimed again is that worker's now, and is left to it.

    A lead's work is a chain of jobs (process -> draft -> post the card), each queued by the one
    before: handing the next one straight to the thread that just finished saves a claim
    transaction and a trip through the dispatcher per link."""
    with db.transaction() as connection:
        if connection.execute(_DELETE, {"job_id": job.id, "attempt": job.attempts}
                              ).rowcount == 0:
            # Claimed again after its lease lapsed, or removed meanwhile (an erasure).
            log.info("job %s %s finished but is no longer this run's; left as it is",
                     job.id, job.kind)
        if not claim_next or now is None or lease is None:
            return None
        claimed = _claim_in(connection, db, now=now, lease=lease, limit=1, kinds=kinds)
    return claimed[0] if claimed else None


def renew_leases(db: Database, running: list[tuple[int, int]], *, now: datetime,
                 lease: timedelta) -> None:
    """Extend to `now + lease` the leases of jobs still running in this worker, each given as
    (job id, its claim's `attempts`): a job that outlives one lease (a send awaiting the mail
    server's answer) is not claimed and run a second time meanwhile. A job claimed again since
    (its lease had run out) has another number and is left alone."""
    if running:
        with db.transaction() as connection:
            connection.execute(_RENEW, [{"job_id": job_id, "attempt": attempt,
                                         "lease_until": now + lease}
                                        for job_id, attempt in running])


def _due(now: Any, *, sqlite: bool = False) -> tuple[Any, ...]:
    """Not parked, due, and not leased to a live worker.

    On SQLite "not parked" is written `+jobs.failed_at IS NULL`: the unary plus is SQLite's
    documented way to keep a term from choosing the index. Otherwise the planner walks
    ix_jobs_failed, i.e. every queued job including each lead's SLA timer hours ahead, and sorts
    them all for the one it takes; with it, the claim walks ix_jobs_due (run_at, then rowid: the
    claim's order) from the oldest due job and stops at the first it can lease."""
    c = _JOBS.c
    parked = literal_column(f"+{_JOBS.name}.failed_at") if sqlite else c.failed_at
    return (parked.is_(None), c.run_at <= now,
            or_(c.locked_until.is_(None), c.locked_until < now))


# The queue's statements, built once with bound parameters: they run several times per lead,
# and building them (and their cache keys) cost more than executing them.
_NOW = bindparam("now", type_=_JOBS.c.run_at.type)
_INSERT = insert(_JOBS)
_DELETE = delete(_JOBS).where(_JOBS.c.id == bindparam("job_id"),
                              _JOBS.c.attempts == bindparam("attempt"))
_RENEW = (update(_JOBS).where(_JOBS.c.id == bindparam("job_id"),
                              _JOBS.c.attempts == bindparam("attempt"))
          .values(locked_until=bindparam("lease_until", type_=_JOBS.c.locked_until.type)))
_ANY_DUE = {sqlite: select(_JOBS.c.id).where(*_due(_NOW, sqlite=sqlite)).limit(1)
            for sqlite in (False, True)}


@cache
def _claim_statement(skip_locked: bool, kinds: tuple[str, ...] | None) -> Any:
    """Lease up to `limit` due jobs (of `kinds`, when given) and read them back, in one
    statement. Clearing dedupe_key lets new work for the same key queue up while this runs.

    Built once per worker's set of kinds, the kinds written into it as SQL string literals
    (they are the worker's handler names, quoted the standard way): an expanding IN would be
    re-rendered at every claim, and a parameter each would be processed at every claim (two
    dozen of them cost about a tenth of the claim)."""
    c = _JOBS.c
    due = (select(c.id).where(*_due(_NOW, sqlite=not skip_locked)).order_by(c.run_at, c.id)
           .limit(bindparam("limit")))
    if kinds:
        due = due.where(c.kind.in_([_sql_string(kind) for kind in kinds]))
    if skip_locked:
        due = due.with_for_update(skip_locked=True)
    return (update(_JOBS)
            .where(c.id.in_(due.scalar_subquery()))
            .values(locked_until=bindparam("lease_until", type_=c.locked_until.type),
                    attempts=c.attempts + 1, dedupe_key=None)
            .returning(c.id, c.kind, c.payload, c.attempts, c.run_at, c.failing_since))


def _sql_string(value: str) -> Any:
    """`value` as an SQL string literal ('it''s'), the same on SQLite and PostgreSQL."""
    return literal_column("'" + value.replace("'", "''") + "'", _JOBS.c.kind.type)


def _claim_in(connection: Connection, db: Database, *, now: datetime, lease: timedelta, limit: int,
              kinds: tuple[str, ...] | None) -> list[ClaimedJob]:
    params: dict[str, Any] = {"now": now, "lease_until": now + lease, "limit": limit}
    rows = list(connection.execute(_claim_statement(not db.is_sqlite, kinds or None), params))
    rows.sort(key=lambda r: (r.run_at, r.id))
    return [ClaimedJob(r.id, r.kind, r.payload, r.attempts, r.failing_since) for r in rows]


def retry_later(db: Database, job: ClaimedJob, error: str, *, now: datetime, budget: timedelta,
                not_before: float | None = None,
                on_failure: Callable[[Session, bool], None] | None = None) -> bool:
    """Schedule a retry with backoff (at least `not_before` seconds, e.g. a Retry-After) while
    the job has been failing for less than `budget`; returns False when it is parked instead.
    `on_failure(session, parked)` runs in the same transaction when the job starts failing
    (False), at each later retry at least `RETELL_FROM_DELAY` away (False: a card's "next try"
    stays the real one, without a redraw for every retry seconds apart), and when it is parked
    (True).

    The last try lands on the budget's end, so "keeps trying for 72 hours" means that."""
    failing_since = job.failing_since or now
    deadline = failing_since + budget
    # Fenced by the claim, as `complete` is: a run that outlived its lease and was claimed
    # again reschedules nothing (the newer run decides), and is not counted as parked.
    ours = update(Job).where(Job.id == job.id, Job.attempts == job.attempts)
    with db.session() as session:
        if now >= deadline:
            parked = session.execute(ours.values(
                failed_at=now, last_error=error[:2000], locked_until=None,
                failing_since=failing_since)).rowcount == 1
            if parked and on_failure is not None:
                tell_in_savepoint(session, job, lambda s: on_failure(s, True), what="parked")
            return not parked
        delay = backoff(job.attempts)
        if not_before is not None:
            delay = max(delay, timedelta(seconds=min(not_before, BACKOFF_CAP.total_seconds())))
        rescheduled = session.execute(ours.values(
            run_at=min(now + delay, deadline), locked_until=None, last_error=error[:2000],
            failing_since=failing_since)).rowcount == 1
        if rescheduled and on_failure is not None and (job.failing_since is None
                                                        or delay >= RETELL_FROM_DELAY):
            tell_in_savepoint(session, job, lambda s: on_failure(s, False), what="failing")
        return True


def tell_in_savepoint(session: Session, job: ClaimedJob, tell: Callable[[Session], None], *,
                      what: str) -> None:
    """`tell` (a watcher of the job's kind) in a savepoint: if telling people fails, the job is
    still rescheduled, parked or retried (and listed), never left leased with no record."""
    try:
        with session.begin_nested():
            tell(session)
    except Exception:
        log.exception("job %s %s: telling people it is %s failed", job.id, job.kind, what)


JobStatus = Literal["queued", "retrying", "failed"]


def job_status(row: Any) -> JobStatus:
    if row.failed_at is not None:
        return "failed"
    return "retrying" if row.failing_since is not None else "queued"


def job_view(row: Any) -> dict[str, Any]:
    return {"job_id": row.id, "kind": row.kind, "status": job_status(row),
            "attempts": row.attempts, "last_error": row.last_error,
            "failing_since": row.failing_since, "failed_at": row.failed_at,
            "next_attempt_at": None if row.failed_at is not None else row.run_at,
            "created_at": row.created_at, "payload": row.payload}


def list_jobs(db: Database, *, status: JobStatus | None = None, kind: str | None = None,
              limit: int = 200) -> list[dict[str, Any]]:
    """Background work by status, oldest first: what is parked (`failed`), what keeps failing
    (`retrying`) and what waits its turn (`queued`)."""
    c = _JOBS.c
    query = select(_JOBS).order_by(c.created_at, c.id).limit(limit)
    if status == "failed":
        query = query.where(c.failed_at.is_not(None))
    elif status == "retrying":
        query = query.where(c.failed_at.is_(None), c.failing_since.is_not(None))
    elif status == "queued":
        query = query.where(c.failed_at.is_(None), c.failing_since.is_(None))
    if kind:
        query = query.where(c.kind == kind)
    with db.read() as session:
        return [job_view(row) for row in session.execute(query)]


def retry_now(db: Database, job_id: int, *, now: datetime,
              on_retry: Callable[[Session, ClaimedJob], None] | None = None
              ) -> dict[str, Any] | None:
    """Make a parked or waiting job due now with a fresh budget; None when no such job.
    `on_retry(session, job)` runs in the same transaction (what may fail without undoing
    the retry belongs in `tell_in_savepoint`).

    Safe to call for a job another worker is running: its lease is left alone, so it is not
    run twice at once."""
    c = _JOBS.c
    with db.session() as session:
        session.execute(update(_JOBS).where(c.id == job_id).values(
            failed_at=None, failing_since=None, run_at=now))
        row = session.execute(select(_JOBS).where(c.id == job_id)).one_or_none()
        if row is None:
            return None
        if on_retry is not None:
            on_retry(session, ClaimedJob(row.id, row.kind, row.payload, row.attempts, None))
        return job_view(row)


def release_all_leases(db: Database) -> None:
    """After a crash of the only process (SQLite), its leases are void: make the work due again."""
    with db.session() as session:
        session.execute(update(Job).where(Job.locked_until.is_not(None))
                        .values(locked_until=None))


def failed_by_kind(db: Database) -> dict[str, int]:
    """Parked jobs per kind, for metrics and the report."""
    with db.read() as session:
        rows = session.execute(select(Job.kind, func.count()).where(Job.failed_at.is_not(None))
                               .group_by(Job.kind))
        return {kind: n for kind, n in rows}


# Retry budgets by kind of work (prefix -> setting, hours): talking to the mail server, Slack and
# the marketing/CRM systems may have to wait out their outages; our own work should not fail
# for long, and when it does a person should look at it soon.
_BUDGET_SETTINGS: tuple[tuple[str, str], ...] = (
    ("deliver_email", "send_retry_hours"),
    ("slack_", "slack_retry_hours"),
    ("support_post_card", "slack_retry_hours"), ("support_update_card", "slack_retry_hours"),
    ("support_relay", "slack_retry_hours"), ("support_escalate_slack", "slack_retry_hours"),
    ("nurture_enrol", "integration_retry_hours"), ("crm_", "integration_retry_hours"),
)


def retry_budget(settings: Settings, kind: str) -> timedelta:
    """How long a job of `kind` keeps retrying before it is parked as failed."""
    setting = next((name for prefix, name in _BUDGET_SETTINGS if kind.startswith(prefix)),
                   "job_retry_hours")
    return timedelta(hours=float(getattr(settings, setting)))
