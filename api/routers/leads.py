from __future__ import annotations

from fastapi import APIRouter

from agent.models import ContextPackage
from api.deps import RuntimeDep
from api.schemas import ErasureResult, LeadPublic
from service import leads

router = APIRouter(prefix="/leads", tags=["leads"])


@router.get("/{lead_id}", response_model=LeadPublic)
def get_lead(lead_id: str, rt: RuntimeDep) -> dict:
    """The lead with its score, band, disqualifiers, owner, stage, SLA and suppression."""
    return leads.get_lead(rt, lead_id)


@router.get("/{lead_id}/context", response_model=ContextPackage)
def get_context(lead_id: str, rt: RuntimeDep) -> ContextPackage:
    """The "why now" package, built from the lead's current record and history."""
    return leads.build_context(rt, lead_id)


@router.delete("/{lead_id}", response_model=ErasureResult)
def erase_lead(lead_id: str, rt: RuntimeDep) -> dict:
    """Erase the lead's personal data everywhere it is kept."""
    return leads.erase_lead(rt, lead_id, actor="api")
