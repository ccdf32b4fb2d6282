"""The handoff graph's state and the port through which its nodes reach the outside world."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypedDict

from agent.models import ContextPackage, Draft, Qualification

# `reassign` is the system's own decision when an SLA is breached twice (never a person's).
DecisionAction = Literal["approve", "edit", "revise", "escalate", "reject", "reassign"]
# `retrying`: the approved email met a transient failure; the outbox keeps trying (and settles
# the handoff's outcome when it is sent or fails for good).
Outcome = Literal["sent", "retrying", "not_sent", "blocked", "failed", "rejected",
                  "not_qualified", "erased"]
DeliveryOutcome = Literal["sent", "retrying", "not_sent", "blocked", "failed"]


class HandoffState(TypedDict, total=False):
    """JSON-only values, so checkpoints stay portable between SQLite and PostgreSQL."""

    handoff_id: str
    lead_id: str
    qualification: dict[str, Any]
    context: dict[str, Any]
    draft: dict[str, Any]
    version: int
    assignee: str
    instruction: str | None
    approval_id: str
    decision: dict[str, Any]
    outbox_id: str | None
    blocks: list[str]
    outcome: Outcome
    reason_code: str | None


@dataclass(frozen=True)
class DecisionRecord:
    """A human decision as recorded (atomically, first wins) in the store."""

    decision_id: str
    approval_id: str
    action: DecisionAction
    actor: str
    payload: dict[str, Any]
    outbox_id: str | None = None


class HandoffPort(Protocol):
    """Everything a node may do outside the graph. The service layer implements it; graph
    tests use an in-memory fake. Every method is idempotent, because LangGraph re-runs a node
    from its top when it resumes."""

    def qualify(self, lead_id: str) -> Qualification | None: ...

    def context_package(self, lead_id: str, qualification: Qualification) -> ContextPackage: ...

    def draft(self, lead_id: str, context: ContextPackage, *, assignee: str,
              instruction: str | None, previous: Draft | None) -> Draft: ...

    def open_approval(self, handoff_id: str, version: int, *, assignee: str, draft: Draft,
                      context: ContextPackage) -> tuple[str, dict[str, Any]]:
        """Create (or find) approval `version`; returns its id and the interrupt payload."""

    def decision_for(self, approval_id: str) -> DecisionRecord | None: ...

    def presend_blocks(self, outbox_id: str) -> list[str]: ...

    def deliver(self, outbox_id: str) -> DeliveryOutcome: ...

    def close(self, handoff_id: str, outcome: Outcome, *, reason_code: str | None = None,
              detail: str | None = None) -> None: ...
