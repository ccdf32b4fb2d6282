"""The assistant graph's state, the views its tools return, and the port they reach them through.

The service layer implements `AssistantPort` for one roster member (service/assistant_port.py),
so every read is already limited to the leads that member may see: a lead outside that set does
not exist as far as the graph can tell. Views are plain pydantic models; lead-supplied text in
them (names, companies, signal details) is data to quote, never instructions to follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, Protocol, TypedDict

from pydantic import BaseModel, ConfigDict, Field

ToolName = Literal["queue", "why_now", "kpis", "search_content", "propose_follow_up",
                   "propose_reassign", "propose_snooze", "propose_disposition"]
READ_TOOLS: tuple[ToolName, ...] = ("queue", "why_now", "kpis", "search_content")
PROPOSAL_TOOLS: dict[str, str] = {
    "propose_follow_up": "draft_follow_up", "propose_reassign": "reassign",
    "propose_snooze": "snooze", "propose_disposition": "set_disposition",
}


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class LeadRef(_View):
    """A lead the member may see, as names are matched against it."""

    lead_id: str
    name: str  # "Ada Park"
    company: str | None = None

    @property
    def label(self) -> str:
        return f"{self.name} ({self.company})" if self.company else self.name


class QueueItem(_View):
    lead: LeadRef
    kind: Literal["approval", "handoff"]
    status: str
    approval_id: str | None = None
    band: str | None = None
    sla_due_at: datetime | None = None
    overdue: bool = False
    subject: str | None = None


class QueueView(_View):
    items: list[QueueItem]
    overdue: int
    now: datetime


class SignalLine(_View):
    event_id: str
    occurred_at: datetime
    detail: str


class WhyNowView(_View):
    lead: LeadRef
    why_now: str
    band: str
    score: float
    route: str
    owner: str | None
    stage: str
    top_signals: list[SignalLine]
    risks: list[str]
    next_step: str
    history: list[SignalLine] = Field(default_factory=list)  # the latest events, newest first


class KpiView(_View):
    days: int
    decided: int
    within_sla: int
    overdue_now: int
    median_minutes_to_decision: float | None
    sent: int


class ContentHit(_View):
    title: str
    kind: str
    path: str
    summary: str = ""


class MemberRef(_View):
    key: str
    name: str
    role: str


class AssistantPort(Protocol):
    """Everything the assistant may do outside the graph, for one member. Reads are free;
    `open_proposal` only records a proposal (idempotent by `key`), and `execute_proposal` runs
    one the member approved, once (a repeated call returns the first result)."""

    def me(self) -> MemberRef: ...

    def visible_leads(self) -> list[LeadRef]: ...

    def team(self) -> list[MemberRef]: ...

    def queue(self) -> QueueView: ...

    def why_now(self, lead_id: str) -> WhyNowView | None: ...

    def kpis(self, days: int) -> KpiView: ...

    def search_content(self, query: str) -> list[ContentHit]: ...

    def today(self) -> tuple[date, str]:
        """Today's date in the member's timezone, and that timezone's name."""

    def open_proposal(self, key: str, action: str, args: dict[str, Any],
                      description: str, lead_id: str | None) -> str: ...

    def execute_proposal(self, proposal_id: str) -> str: ...

    def reject_proposal(self, proposal_id: str) -> str: ...


class ToolCall(TypedDict):
    name: str
    args: dict[str, Any]


class ProposalState(TypedDict):
    proposal_id: str
    action: str
    args: dict[str, Any]
    description: str


class AssistantState(TypedDict, total=False):
    """JSON-only values, so checkpoints stay portable between SQLite and PostgreSQL."""

    # A conversation run
    text: str  # the rep's message of this turn
    turn: int
    history: list[dict[str, str]]  # the last turns, {"role": "rep"|"assistant", "content"}
    calls: list[ToolCall]  # what this turn decided to do
    results: list[dict[str, Any]]  # each call's result, JSON
    answer: str
    citations: list[dict[str, Any]]
    proposals: list[ProposalState]
    source: str  # offline | model
    # An ask that named an ambiguous lead: the intent waits for the rep to say which one.
    pending: dict[str, Any] | None
    # A name the rep wrote that no lead they may see answers to (kept for the erasure index).
    unmatched: str | None
    # A proposal run (its own thread): the request, then the outcome
    proposal: ProposalState
    outcome: str


@dataclass
class AssistantContext:
    """A run's context: the port for the member, and the model planner when one is configured.
    Here rather than beside the graph so the service can name it without importing LangGraph
    and LangChain's agents (a one-shot `hitl ingest` imports erasure, which imports this)."""

    port: AssistantPort
    planner: Any = None  # agent.assistant.model.ModelPlanner | None
