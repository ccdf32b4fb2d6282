"""Routers: small pure functions from state to the next node name. They fail loudly on a state
they do not expect rather than guessing."""

from __future__ import annotations

from typing import Literal

from agent.models import Qualification
from agent.state import DecisionRecord


def after_qualify(qualification: Qualification | None) -> Literal["package_context", "close"]:
    if qualification is None or not qualification.needs_human:
        return "close"
    return "package_context"


def after_decision(
    decision: DecisionRecord,
) -> Literal["presend_checks", "draft", "request_approval", "package_context", "close"]:
    match decision.action:
        case "approve" | "edit":
            if not decision.outbox_id:
                raise ValueError(f"decision {decision.decision_id} approved without an outbox row")
            return "presend_checks"
        case "revise":
            return "draft"
        case "escalate":
            return "request_approval"
        case "reassign":
            return "package_context"  # a new owner gets a refreshed package and draft
        case "reject":
            return "close"
    raise ValueError(f"unexpected decision action {decision.action!r}")


def after_checks(blocks: list[str]) -> Literal["send", "close"]:
    return "close" if blocks else "send"
