"""The audit log as the service tests read it (tests/service/test_sla_rescue.py,
tests/service/test_experiments_variants.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from store.tables import AuditEntry


def audits(rt: Any, action: str) -> list[AuditEntry]:
    with rt.db.session() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)))
