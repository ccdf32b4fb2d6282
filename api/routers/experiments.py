"""`GET /v1/experiments`: each experiment of the policy file compared variant by variant
(service.experiments_stats): counts, rates with 95 % Wilson intervals, whether the difference
is significant yet, and a warning while samples are small. Read-only: stopping is
`hitl experiments stop NAME`, and keeping a winner is a person editing the policy file."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel

from api.deps import RuntimeDep
from service.experiments_stats import compare

router = APIRouter(tags=["experiments"])


class RatePublic(BaseModel):
    rate: float | None
    n: int
    low: float | None
    high: float | None


class VariantPublic(BaseModel):
    name: str
    description: str
    share: float
    assigned: int
    drafted: int
    decided: int
    approved_as_is: int
    edited: int
    rejected: int
    sent: int
    emailed_leads: int
    replies: int
    meetings: int
    unsubscribes: int
    complaints: int
    rates: dict[str, RatePublic]
    rejected_by_reason: dict[str, int]
    edit_ratio_mean: float | None
    time_to_decision_p50_seconds: float | None
    significant: bool
    vs_control: dict[str, float | None]


class ExperimentPublic(BaseModel):
    name: str
    stage: str
    description: str
    starts_at: datetime
    ends_at: datetime | None
    status: str
    stopped: dict[str, Any] | None
    variants: list[VariantPublic]
    tests: dict[str, dict[str, Any]]
    significant: bool
    small_sample: bool
    warning: str | None
    keeping_the_winner: str


@router.get("/experiments", response_model=list[ExperimentPublic])
def list_experiments(rt: RuntimeDep) -> list[dict[str, Any]]:
    """Every experiment in the policy file, with per-variant outcomes and their 95 % intervals.
    Rates: decisions over decided drafts, replies over sent emails, meetings and unsubscribes
    over leads emailed. `significant`: a primary outcome (replies, meetings, approved as-is)
    differs at p < 0.05 (Fisher's exact test for two variants, chi-square for more)."""
    return compare(rt)


@router.get("/experiments/{name}", response_model=ExperimentPublic)
def get_experiment(name: Annotated[str, Path(max_length=64)], rt: RuntimeDep) -> dict[str, Any]:
    """One experiment (404 naming the known ones when there is no such experiment)."""
    return compare(rt, name)[0]
