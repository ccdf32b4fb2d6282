"""The handoff graph's port, in memory (shared by tests/agent/test_graph.py and
tests/agent/test_hitl_protocol.py): records every call; decisions are set by the test."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.models import (
    ContextPackage,
    Draft,
    Fit,
    Qualification,
    RecommendedAction,
)
from agent.state import DecisionRecord

FIT = Fit(score=80, segment="mid-market", in_icp=True, reasons=["mid-market"])


def qualification(route: str = "hand_raise") -> Qualification:
    return Qualification(score=80, band="A", fit=FIT, intent=60, rising=True,
                         disqualifiers=[], route=route, policy_version="t")  # type: ignore[arg-type]


PACKAGE = ContextPackage(
    lead_id="lead_1", why_now="Ada asked for a demo.", top_signals=[], last_touch=None,
    source="linkedin", campaign="Q4", fit=FIT, band="A", score=80, route="hand_raise",
    recommended_action=RecommendedAction(next_step="Offer two times", message_angle="demo"),
    risks=[], policy_version="t",
)


@dataclass
class FakePort:
    """Records every call; decisions are set by the test like the service layer would."""

    route: str = "hand_raise"
    blocks: list[str] = field(default_factory=list)
    decisions: dict[str, DecisionRecord] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    drafts: int = 0

    def qualify(self, lead_id: str) -> Qualification | None:
        self.calls.append(("qualify", lead_id))
        return qualification(self.route)

    def context_package(self, lead_id: str, qualification: Qualification) -> ContextPackage:
        self.calls.append(("context", lead_id))
        return PACKAGE

    def draft(self, lead_id: str, context: ContextPackage, *, assignee: str,
              instruction: str | None, previous: Draft | None) -> Draft:
        self.drafts += 1
        self.calls.append(("draft", instruction))
        return Draft(to="ada@acme.io", subject=f"v{self.drafts}", body="Hi Ada", source="offline",
                     note="offline draft")

    def open_approval(self, handoff_id: str, version: int, *, assignee: str, draft: Draft,
                      context: ContextPackage) -> tuple[str, dict[str, Any]]:
        approval_id = f"ap_{handoff_id}_v{version}"
        if ("open", approval_id) not in self.calls:
            self.calls.append(("open", approval_id))
        return approval_id, {"approval_id": approval_id, "assignee": assignee}

    def decision_for(self, approval_id: str) -> DecisionRecord | None:
        return self.decisions.get(approval_id)

    def presend_blocks(self, outbox_id: str) -> list[str]:
        return self.blocks

    def deliver(self, outbox_id: str) -> str:
        self.calls.append(("deliver", outbox_id))
        return "sent"

    def close(self, handoff_id: str, outcome: str, *, reason_code: str | None = None,
              detail: str | None = None) -> None:
        self.calls.append(("close", (outcome, reason_code, detail)))

    def decide(self, approval_id: str, action: str, **payload: Any) -> None:
        self.decisions[approval_id] = DecisionRecord(
            decision_id=f"d-{approval_id}", approval_id=approval_id, action=action,  # type: ignore[arg-type]
            actor="U1", payload=payload, outbox_id=payload.get("outbox_id"))
