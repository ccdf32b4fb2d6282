from __future__ import annotations

from fastapi import APIRouter

from api.deps import RuntimeDep
from api.schemas import ApprovalPublic
from service import approvals
from service.lifecycle import ApprovalStatus
from service.schemas import DecisionIn

router = APIRouter(prefix="/approvals", tags=["approvals"])

@router.get("", response_model=list[ApprovalPublic])
def list_approvals(rt: RuntimeDep, status: ApprovalStatus | None = ApprovalStatus.PENDING,
                   assignee: str | None = None) -> list[dict]:
    """Approval requests, oldest first (`status=pending` by default)."""
    return approvals.list_approvals(rt, status=status, assignee=assignee)


@router.get("/{approval_id}", response_model=ApprovalPublic)
def get_approval(approval_id: str, rt: RuntimeDep) -> dict:
    return approvals.get_approval(rt, approval_id)


@router.post("/{approval_id}/decision", response_model=ApprovalPublic)
def decide(approval_id: str, decision: DecisionIn, rt: RuntimeDep) -> dict:
    """Approve, edit, revise, escalate or reject. 403: actor not allowed; 409: already decided
    or superseded by a newer version."""
    return approvals.decide(rt, approval_id, decision)
