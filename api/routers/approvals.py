from __future__ import annotations

from fastapi import APIRouter, Depends

from api.deps import PrincipalDep, RuntimeDep
from api.schemas import ApprovalDetailPublic, ApprovalPublic
from api.signed_links import SIGNED_REFUSAL, bearer_or_signed_link
from service import approvals, lookups
from service.lifecycle import ApprovalStatus
from service.schemas import DecisionIn

router = APIRouter(prefix="/approvals", tags=["approvals"])
# Reading one approval: the bearer token, or a signed link from an SLA notice email.
read_router = APIRouter(prefix="/approvals", tags=["approvals"], dependencies=[
    Depends(bearer_or_signed_link("/v1/approvals/{approval_id}"))])

@router.get("", response_model=list[ApprovalPublic])
def list_approvals(rt: RuntimeDep, status: ApprovalStatus | None = ApprovalStatus.PENDING,
                   assignee: str | None = None) -> list[dict]:
    """Approval requests, oldest first (`status=pending` by default)."""
    return approvals.list_approvals(rt, status=status, assignee=assignee)


@read_router.get("/{approval_id}", response_model=ApprovalDetailPublic,
                 responses=SIGNED_REFUSAL)
def get_approval(approval_id: str, rt: RuntimeDep) -> dict:
    """The approval, with `history`: every version of its handoff's draft, oldest first, and
    the decision made on each (who, what, when, reason, note, instruction). Opens with the
    bearer token, or read-only in a browser from the signed, expiring link an SLA notice
    email carries (`?sig=...&exp=...`)."""
    return lookups.approval_with_history(rt, approval_id)


@router.post("/{approval_id}/decision", response_model=ApprovalPublic)
def decide(approval_id: str, decision: DecisionIn, rt: RuntimeDep,
           principal: PrincipalDep) -> dict:
    """Approve, edit, revise, escalate or reject, as the person the bearer token names.

    With a personal token the token's member decides (`actor` may be omitted; naming anyone
    else is 403). With the service token `actor` is required (422 without it) and the
    decision is recorded as made through the service token. 403: actor not allowed (not the
    assignee or a manager); 409: already decided or superseded by a newer version."""
    return approvals.decide(rt, approval_id, decision, principal)
