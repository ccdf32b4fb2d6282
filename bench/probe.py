"""Read-only queries on the bench server's database, from outside the server.

SQLAlchemy Core text queries with bound parameters, on a small pool of the bench's own: the
bench reads the server's tables (events, jobs, approvals, outbox, leads) the way an operator's
dashboard would, without sharing the server's sessions or taking its write locks."""

from __future__ import annotations

from typing import Any

# Periodic timers re-queue themselves forever: "drained" means no other work is left.
WORK_KINDS_EXCLUDED = ("sla_check", "slack_sla_reminder", "slack_sla_escalation")


class StoreProbe:
    """Read-only queries on the server's database (SQLite file or PostgreSQL)."""

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine  # lazy: `hitl bench --help` must stay fast

        self.engine = create_engine(url, pool_size=2, max_overflow=2)

    def scalar(self, sql: str, **params: Any) -> Any:
        """The first column of the first row of `sql` (bound `params`)."""
        rows = self._execute(sql, params)
        return rows[0][0] if rows else None

    def rows(self, sql: str, **params: Any) -> list[Any]:
        """Every row of `sql`; list/tuple/set params expand into `IN (...)` lists."""
        return self._execute(sql, params)

    def _execute(self, sql: str, params: dict[str, Any]) -> list[Any]:
        from sqlalchemy import bindparam, text

        statement = text(sql).bindparams(*(
            bindparam(name, expanding=True) for name, value in params.items()
            if isinstance(value, list | tuple | set | frozenset)))
        values = {k: list(v) if isinstance(v, set | frozenset) else v
                  for k, v in params.items()}
        with self.engine.connect() as conn:
            return list(conn.execute(statement, values).all())

    def events(self) -> int:
        """Events stored."""
        return int(self.scalar("SELECT count(*) FROM events") or 0)

    def unprocessed(self) -> int:
        """Events the worker has not processed yet."""
        return int(self.scalar("SELECT count(*) FROM events WHERE processed_at IS NULL") or 0)

    def open_jobs(self) -> int:
        """Queued or retrying jobs, timers excluded: the periodic kinds above, and any job
        queued for later at its creation and never tried (an SLA check, a no-response
        recycle, a callback reminder: work for hours or days from now, not a backlog)."""
        return int(self.scalar("SELECT count(*) FROM jobs WHERE failed_at IS NULL "
                               "AND kind NOT IN :excluded "
                               "AND NOT (attempts = 0 AND run_at > created_at)",
                               excluded=WORK_KINDS_EXCLUDED) or 0)

    def failed_jobs(self) -> list[tuple[str, str]]:
        """(kind, last_error) of every job parked as failed."""
        return [(r[0], r[1]) for r in self.rows(
            "SELECT kind, last_error FROM jobs WHERE failed_at IS NOT NULL")]

    def approvals(self) -> dict[str, tuple[str, str, str, int]]:
        """approval_id -> (lead_id, status, assignee, version)."""
        return {r[0]: (r[1], r[2], r[3], int(r[4])) for r in self.rows(
            "SELECT id, lead_id, status, assignee, version FROM approvals")}

    def outbox(self) -> dict[str, int]:
        """Outbox rows by status."""
        return {r[0]: int(r[1]) for r in self.rows(
            "SELECT status, count(*) FROM outbox GROUP BY status")}

    def lead_emails(self, approval_ids: set[str]) -> list[str]:
        """The email addresses of the leads these approvals are for."""
        if not approval_ids:
            return []
        return [r[0] for r in self.rows(
            "SELECT l.email FROM approvals a JOIN leads l ON l.id = a.lead_id "
            "WHERE a.id IN :ids", ids=approval_ids)]

    def drafts_by_source(self) -> dict[str, int]:
        """Approvals by where their draft came from (model, template, ...)."""
        return {r[0]: int(r[1]) for r in self.rows(
            "SELECT draft_source, count(*) FROM approvals GROUP BY draft_source")}

    def dispose(self) -> None:
        """Close the probe's connections."""
        self.engine.dispose()

