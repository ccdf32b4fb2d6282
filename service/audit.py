"""The audit log: who did what to which lead, under which policy version. Every service module
writes through this one function, inside the transaction that made the change."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, insert
from sqlalchemy.orm import Session

from service.runtime import AppRuntime
from store.tables import AuditEntry

# A prebuilt Core insert on the table, executed on the transaction's connection: a transaction
# that otherwise runs Core statements has no ORM unit of work to flush for its audit entry, and
# the entry is written where it is made, in the caller's transaction (the same connection the
# session's own statements use).
_AUDIT_LOG: Table = AuditEntry.__table__  # type: ignore[assignment]
_INSERT = insert(_AUDIT_LOG)


def audit(session: Session | Connection, rt: AppRuntime, *, actor: str, action: str,
          lead_id: str | None, subject_id: str | None = None, **detail: Any) -> None:
    connection = session.connection() if isinstance(session, Session) else session
    connection.execute(_INSERT, {"at": rt.clock.now(), "actor": actor, "action": action,
                                 "lead_id": lead_id, "subject_id": subject_id,
                                 "detail": detail, "policy_version": rt.policy.version})
