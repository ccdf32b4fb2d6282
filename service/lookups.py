"""Reads people need outside Slack (issue 15): a lead by its email, and an approval with the
whole story of its handoff (every version: who decided what, reasons, notes, instructions)."""

from __future__ import annotations

import contextlib
from typing import Any

from sqlalchemy import select

from agent.email_rules import AddressError, lead_address
from service.approvals import decision_view, get_approval
from service.leads import get_lead
from service.runtime import AppRuntime
from store.tables import Approval, Decision, Lead


def find_leads_by_email(rt: AppRuntime, email: str) -> list[dict[str, Any]]:
    """The lead with this email (any case), as `GET /v1/leads/{id}` shows it; [] when none.

    Addresses are stored in canonical form (lower case, ASCII domain): the query is put in
    the same form. Erased leads are not found."""
    given = email.strip()
    candidates = {given.lower()}
    with contextlib.suppress(AddressError):  # invalid: only the lower-case form can match
        candidates.add(lead_address(given))
    with rt.db.read() as session:
        ids = list(session.scalars(select(Lead.id).where(Lead.email.in_(candidates),
                                                         Lead.erased_at.is_(None))
                                  .order_by(Lead.created_at, Lead.id)))
    return [get_lead(rt, lead_id) for lead_id in ids]


def decision_history(rt: AppRuntime, handoff_id: str) -> list[dict[str, Any]]:
    """Every version of a handoff's draft, oldest first: its assignee, status, subject, and the
    decision made on it (who, what, when, reason, note, instruction; None while undecided)."""
    with rt.db.read() as session:
        rows = session.execute(
            select(Approval, Decision)
            .outerjoin(Decision, Decision.approval_id == Approval.id)
            .where(Approval.handoff_id == handoff_id)
            .order_by(Approval.version, Approval.created_at)).all()
        return [{"approval_id": a.id, "version": a.version, "assignee": a.assignee,
                 "status": a.status, "subject": a.subject, "created_at": a.created_at,
                 "decision": decision_view(d)} for a, d in rows]


def approval_with_history(rt: AppRuntime, approval_id: str) -> dict[str, Any]:
    """`GET /v1/approvals/{id}`: the approval, plus `history` (decision_history)."""
    view = get_approval(rt, approval_id)
    view["history"] = decision_history(rt, view["handoff_id"])
    return view
