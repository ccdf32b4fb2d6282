"""Domain types shared by the graph, the service layer and every surface.

They are plain pydantic models with no database or network behind them, so the policy,
context and drafting functions can be tested as pure functions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.policy import Route, Segment

EventType = Literal[
    "page_view", "email_open", "email_click", "form_submit", "event_attended", "inbound_reply",
    "meeting_booked", "product_usage", "support_ticket", "unsubscribe", "consent",
]
Band = Literal["A", "B", "C", "disqualified"]
DraftSource = Literal["model", "offline", "fallback"]


class LeadProfile(BaseModel):
    """What the record says about a person. Lead-supplied free text is never trusted."""

    model_config = ConfigDict(frozen=True)

    lead_id: str
    email: str
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    title: str | None = None
    domain: str | None = None
    country: str | None = None
    employees: int | None = None
    industry: str | None = None
    timezone: str | None = None

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p) or self.email

    @property
    def email_domain(self) -> str:
        return self.email.rsplit("@", 1)[-1].lower()


class Signal(BaseModel):
    """One stored event about a lead (the `event_id` is what a context package cites)."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    type: EventType
    occurred_at: datetime
    properties: dict[str, Any] = {}


class Disqualifier(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: Literal["student", "competitor", "invalid_domain", "throwaway_domain"]
    reason: str


class Fit(BaseModel):
    model_config = ConfigDict(frozen=True)

    score: float
    segment: Segment | None
    in_icp: bool
    reasons: list[str]


class Qualification(BaseModel):
    """The policy's verdict on a lead at one moment."""

    model_config = ConfigDict(frozen=True)

    score: float
    band: Band
    fit: Fit
    intent: float
    rising: bool
    disqualifiers: list[Disqualifier]
    route: Route
    hand_raise_event_id: str | None = None
    strategic_owner: str | None = None
    policy_version: str

    @property
    def needs_human(self) -> bool:
        return self.route in ("hand_raise", "strategic", "band_a")


class TopSignal(BaseModel):
    model_config = ConfigDict(frozen=True)

    event_id: str
    type: EventType
    occurred_at: datetime
    detail: str
    weight: float = 0.0


class Asset(BaseModel):
    """A content-library item (talk track, case study, playbook) the rep can use."""

    model_config = ConfigDict(frozen=True)

    title: str
    kind: str
    path: str
    summary: str = ""


class RecommendedAction(BaseModel):
    model_config = ConfigDict(frozen=True)

    next_step: str
    message_angle: str
    asset: Asset | None = None


class Risk(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: Literal["negative_ticket", "open_ticket", "unsubscribed", "no_consent", "competitor",
                  "suppressed", "frequency_cap", "instructions"]
    detail: str
    event_id: str | None = None


class ContextPackage(BaseModel):
    """The "why now" package: small and bounded however long the lead's history is."""

    model_config = ConfigDict(frozen=True)

    lead_id: str
    why_now: str
    top_signals: list[TopSignal] = Field(max_length=3)
    last_touch: TopSignal | None
    source: str | None
    campaign: str | None
    fit: Fit
    band: Band
    score: float
    route: Route
    recommended_action: RecommendedAction
    risks: list[Risk]
    policy_version: str

    def as_prompt(self) -> dict[str, Any]:
        """The JSON-able view the drafting prompt renders (no history beyond the package)."""
        return self.model_dump(mode="json")


class Draft(BaseModel):
    """A follow-up email awaiting a human. `to` is always the lead record's address."""

    model_config = ConfigDict(frozen=True)

    channel: Literal["email"] = "email"
    to: str
    subject: str
    body: str
    source: DraftSource
    note: str | None = None
    prompt_version: str | None = None
