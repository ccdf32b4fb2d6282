"""Public response models (what the API promises), separate from inputs and tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from service.lifecycle import SendStatus


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


class DecisionPublic(BaseModel):
    """The human (or SLA) decision recorded on an approval."""

    decision_id: str
    action: str
    actor: str
    at: datetime
    reason_code: str | None = None
    note: str | None = None
    instruction: str | None = None
    escalate_to: str | None = None
    edited: bool | None = None
    via: str | None = None


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
    decision: DecisionPublic | None = None
    send_status: SendStatus = "not_applicable"
    send_detail: str | None = None
    next_attempt_at: datetime | None = None
    outbox_id: str | None = None


class ApprovalVersionPublic(BaseModel):
    """One version of a handoff's draft and the decision made on it (None while undecided)."""

    approval_id: str
    version: int
    assignee: str
    status: str
    subject: str
    created_at: datetime
    decision: DecisionPublic | None = None


class ApprovalDetailPublic(ApprovalPublic):
    """`GET /v1/approvals/{approval_id}`: the approval and its handoff's decision history,
    every version oldest first (who decided what, reasons, notes, instructions)."""

    history: list[ApprovalVersionPublic] = []


class OutboxPublic(BaseModel):
    """An approved message on its way out (or stuck, and why)."""

    outbox_id: str
    approval_id: str
    lead_id: str
    to: str | None
    subject: str
    status: SendStatus
    detail: str | None
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    failing_since: datetime | None
    message_id: str
    created_at: datetime
    sent_at: datetime | None


class JobPublic(BaseModel):
    """A piece of background work; `failed` ones are parked until someone retries them."""

    job_id: int
    kind: str
    status: Literal["queued", "retrying", "failed"]
    attempts: int
    last_error: str | None
    failing_since: datetime | None
    failed_at: datetime | None
    next_attempt_at: datetime | None
    created_at: datetime
    payload: dict[str, Any]


class ErasureResult(BaseModel):
    lead_id: str
    erased: bool
    events: int
    handoffs: int
