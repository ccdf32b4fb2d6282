from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from agent.models import ContextPackage
from api.deps import PrincipalDep, RuntimeDep
from api.schemas import LeadPublic
from service import erasure, leads, lookups
from service.identity import actor_label

router = APIRouter(prefix="/leads", tags=["leads"])


@router.get("", response_model=list[LeadPublic])
def find_leads(rt: RuntimeDep, email: Annotated[str, Query(
        min_length=3, max_length=320, description="The lead's email address (any case)")]
               ) -> list[dict]:
    """Find a lead by email, case-insensitive: a list with the lead, or `[]` when none (an
    erased lead is not found)."""
    return lookups.find_leads_by_email(rt, email)


@router.get("/{lead_id}", response_model=LeadPublic)
def get_lead(lead_id: str, rt: RuntimeDep) -> dict:
    """The lead with its score, band, disqualifiers, owner, stage, SLA and suppression."""
    return leads.get_lead(rt, lead_id)


@router.get("/{lead_id}/context", response_model=ContextPackage)
def get_context(lead_id: str, rt: RuntimeDep) -> ContextPackage:
    """The "why now" package, built from the lead's current record and history."""
    return leads.build_context(rt, lead_id)


@router.delete("/{lead_id}", response_model=erasure.ErasureReport)
def erase_lead(lead_id: str, rt: RuntimeDep,
               principal: PrincipalDep) -> erasure.ErasureReport:
    """Erase the lead's personal data everywhere it is kept: the store (with the same person's
    support conversations), graph checkpoints, every Chroma collection, and the Slack messages
    the app posted about them (redactions queued). The answer says what went where."""
    return erasure.erase_lead(rt, lead_id, actor=actor_label(principal))
