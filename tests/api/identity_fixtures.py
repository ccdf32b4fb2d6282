"""Shared by the identity tests: personal tokens for three roster members, and helpers to call
the API as each of them (or with the service token). Import `tokens_fixture` to get the
`tokens` fixture."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import TOKEN

SERVICE = {"Authorization": f"Bearer {TOKEN}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(name="tokens")
def tokens_fixture(rt: Any) -> dict[str, str]:
    """Personal tokens, by first name: Riley (the rep the hand-raise is routed to), Sam
    (another rep) and Morgan (a manager)."""
    from service import personal_tokens

    return {name: personal_tokens.create(rt, ref, f"{name}'s laptop")[1]
            for name, ref in (("riley", "riley@example.com"), ("sam", "U0REP0002"),
                              ("morgan", "MORGAN@example.com"))}


def audit_rows(rt: Any, action_prefix: str = "decision_") -> list[Any]:
    from store.tables import AuditEntry

    with rt.db.read() as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.action.startswith(
            action_prefix)).order_by(AuditEntry.id)).all()
        return [(r.actor, r.action, dict(r.detail or {})) for r in rows]


def decisions(rt: Any) -> list[tuple[str, str, dict[str, Any]]]:
    from store.tables import Decision

    with rt.db.read() as session:
        return [(d.actor, d.action, dict(d.payload or {}))
                for d in session.scalars(select(Decision).order_by(Decision.created_at))]
