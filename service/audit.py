"""The audit log: who did what to which lead, under which policy version. Every service module
writes through this one function, inside the transaction that made the change."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from service.runtime import AppRuntime
from store.tables import AuditEntry


def audit(session: Session, rt: AppRuntime, *, actor: str, action: str, lead_id: str | None,
          subject_id: str | None = None, **detail: Any) -> None:
    session.add(AuditEntry(at=rt.clock.now(), actor=actor, action=action, lead_id=lead_id,
                           subject_id=subject_id, detail=detail,
                           policy_version=rt.policy.version))
