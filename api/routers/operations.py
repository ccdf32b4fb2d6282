"""Stuck work, visible and retryable: the outbox and parked background jobs."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from api.deps import PrincipalDep, RuntimeDep
from api.schemas import JobPublic, OutboxPublic
from service import job_watch, jobs, outbox, outbox_views
from service.errors import NotFound
from service.identity import actor_label
from service.lifecycle import SendStatus

router = APIRouter(tags=["operations"])


@router.get("/outbox", response_model=list[OutboxPublic])
def list_outbox(rt: RuntimeDep, status: SendStatus | None = None,
                limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[dict]:
    """Outbound messages, oldest first: `retrying` and `failed` are the ones to look at."""
    return outbox_views.list_outbox(rt, status=status, limit=limit)


@router.get("/outbox/{outbox_id}", response_model=OutboxPublic)
def get_outbox(outbox_id: str, rt: RuntimeDep) -> dict:
    return outbox_views.get_outbox(rt, outbox_id)


@router.post("/outbox/{outbox_id}/retry", response_model=OutboxPublic)
def retry_outbox(outbox_id: str, rt: RuntimeDep, principal: PrincipalDep) -> dict:
    """Try a `retrying` or `failed` message again now (same message, same Message-ID: still
    exactly once). 409 when it was sent, is blocked, or is being sent right now."""
    return outbox.retry(rt, outbox_id, actor=actor_label(principal))


@router.get("/jobs", response_model=list[JobPublic])
def list_jobs(rt: RuntimeDep, status: Literal["queued", "retrying", "failed"] | None = None,
              kind: Annotated[str | None, Query(max_length=64)] = None,
              limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[dict]:
    """Background work; `status=failed` lists what was parked after its retry budget."""
    return jobs.list_jobs(rt.db, status=status, kind=kind, limit=limit)


@router.post("/jobs/{job_id}/retry", response_model=JobPublic)
def retry_job(job_id: Annotated[int, Path(ge=1, le=2**63 - 1)], rt: RuntimeDep,
              principal: PrincipalDep) -> dict:
    """Make a parked or waiting job due now, with a fresh retry budget (audited; a card that
    said the job was stuck is redrawn)."""
    view = job_watch.retry_job(rt, job_id, actor=actor_label(principal))
    if view is None:
        raise NotFound(f"job {job_id} not found")
    return view
