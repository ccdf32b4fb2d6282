from __future__ import annotations

from fastapi import APIRouter

from agent.models import ContextPackage
from api.deps import RuntimeDep
from api.schemas import LeadPublic
from service import erasure, leads

router = APIRouter(prefix="/leads", tags=["leads"])


@router.get("/{lead_id}", response_model=LeadPublic)
def get_lead(lead_id: str, rt: RuntimeDep) -> dict:
    """The lead with its score, band, disqualifiers, owner, stage, SLA and suppression."""
    return leads.get_lead(rt, lead_id)


@router.get("/{lead_id}/context", response_model=ContextPackage)
def get_context(lead_id: str, rt: RuntimeDep) -> ContextPackage:
    """The "why now" package, built from the lead's current record and history."""
    return leads.build_context(rt, lead_id)


@router.delete("/{lead_id}", response_model=erasure.ErasureReport)
def erase_lead(lead_id: str, rt: RuntimeDep) -> erasure.ErasureReport:
    """Erase the lead's personal data everywhere it is kept: the store (with the same person's
    support conversations), graph checkpoints, every Chroma collection, and the Slack messages
    the app posted about them (redactions queued). The answer says what went where."""
    return erasure.erase_lead(rt, lead_id, actor="api")
