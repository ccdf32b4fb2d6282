"""Routers of the conversation graph: small pure functions that fail loudly on a state they do
not expect."""

from __future__ import annotations

from typing import Literal

from agent.support.models import Assessment, ConversationStatus, TriggerDecision


def route_turn(status: str) -> Literal["assess", "relay_to_human"]:
    """The bot speaks only while it owns the conversation; otherwise it stays silent."""
    match status:
        case ConversationStatus.BOT:
            return "assess"
        case ConversationStatus.WAITING_FOR_HUMAN | ConversationStatus.HUMAN:
            return "relay_to_human"
    raise ValueError(f"unexpected conversation status {status!r} for a new message")


def after_triggers(decision: TriggerDecision | None, assessment: Assessment
                   ) -> Literal["transfer", "answer", "smalltalk"]:
    if decision is not None:
        return "transfer"
    if assessment.smalltalk:
        return "smalltalk"
    return "answer"
