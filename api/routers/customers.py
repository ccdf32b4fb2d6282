"""Customers known only by their email (support conversations), for erasure."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import PrincipalDep, RuntimeDep
from service import erasure
from service.identity import actor_label

router = APIRouter(prefix="/customers", tags=["customers"])


@router.delete("/{email}", response_model=erasure.ErasureReport)
def erase_customer(email: str, rt: RuntimeDep,
                   principal: PrincipalDep) -> erasure.ErasureReport:
    """Erase everything kept about the person with this email: their support conversations,
    messages and transfers (and the lead record if there is one), graph checkpoints, Chroma
    documents, and the Slack messages the app posted about them (redactions queued). 404 when
    nothing is known under the address; 422 when it is not one address."""
    return erasure.erase_customer(rt, email, actor=actor_label(principal))
