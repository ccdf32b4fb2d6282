"""Public response models (what the API promises), separate from inputs and tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class LeadRef(BaseModel):
    lead_id: str
    email: str


class IngestAccepted(BaseModel):
    accepted: int
    duplicates: int
    leads: list[LeadRef]


class ActiveHandoff(BaseModel):
    """Who owns the lead right now and how the SLA stands (one owner at a time)."""

    handoff_id: str
    status: str
    route: str
    assignee: str | None
    sla_due_at: datetime | None
    sla_breaches: int
    reminded_at: datetime | None
    escalated_at: datetime | None
    created_at: datetime


class LeadPublic(BaseModel):
    lead_id: str
    email: str | None
    first_name: str | None
    last_name: str | None
    company: str | None
    title: str | None
    domain: str | None
    country: str | None
    employees: int | None
    industry: str | None
    timezone: str | None
    score: float | None
    band: str | None
    disqualifiers: list[dict[str, Any]]
    route: str | None
    owner: str | None
    stage: str
    sla_due_at: datetime | None
    suppressed_until: datetime | None
    suppression_reason: str | None
    nurture_track: str | None
    unsubscribed: bool
    consent: bool | None
    policy_version: str | None
    created_at: datetime
    updated_at: datetime
    handoff: ActiveHandoff | None = None


class DraftPublic(BaseModel):
    channel: str
    to: str | None
    subject: str
    body: str
    source: str
    note: str | None


class ApprovalPublic(BaseModel):
    approval_id: str
    lead_id: str
    handoff_id: str
    version: int
    assignee: str
    status: str
    draft: DraftPublic
    context: dict[str, Any]
    request: dict[str, Any]
    created_at: datetime
    sla_due_at: datetime | None
    decided_at: datetime | None
    decided_by: str | None
    policy_version: str
    decision: dict[str, Any] | None = None


class ErasureResult(BaseModel):
    lead_id: str
    erased: bool
    events: int
    handoffs: int
