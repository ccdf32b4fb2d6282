"""The assistant's builders, for tests/slack/test_slack_inert_text.py (kept here so that file
stays readable): each builder fed an answer whose every lead-controlled field is hostile, and
why each other public function of `slack_app.assistant` renders nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from service.assistant_models import AssistantReply, Citation, Proposal, ProposalStatus
from slack_app.assistant import blocks

STATUSES: tuple[ProposalStatus, ...] = ("pending", "executed", "failed", "rejected")


def assistant_reply(h: str) -> AssistantReply:
    """An assistant's answer quoting hostile lead text everywhere it can."""
    return AssistantReply(
        reply_id="r1", conversation_key="D0REP0001:1.2", text=h * 3,
        citations=[Citation(lead_id="lead_1", name=h, signals=[h, h])] * 2,
        proposals=[Proposal(proposal_id=f"p{i}", action="snooze", args={"x": h},
                            description=h, status=s)
                   for i, s in enumerate(STATUSES)])


def _decided(h: str) -> list[Any]:
    answer = blocks.answer_blocks(assistant_reply(h))
    return [blocks.decided_blocks(answer, f"p{i}", decision, user, assistant_reply(h))
            for i in range(5) for decision in ("approve", "reject")
            for user in ("U0REP0001", h)]


ASSISTANT_RECIPES: dict[str, Callable[[str], list[Any]]] = {
    "assistant.blocks.answer_blocks": lambda h: blocks.answer_blocks(assistant_reply(h)),
    "assistant.blocks.trailer_blocks": lambda h: blocks.trailer_blocks(assistant_reply(h)),
    "assistant.blocks.text_blocks": lambda h: blocks.text_blocks(h * 40),
    "assistant.blocks.citation_block": lambda h: [blocks.citation_block(assistant_reply(h))],
    "assistant.blocks.proposal_blocks": lambda h: blocks.proposal_blocks(
        assistant_reply(h).proposals[0]),
    "assistant.blocks.feedback_block": lambda h: [blocks.feedback_block("r1")],
    "assistant.blocks.decided_blocks": _decided,
    "assistant.blocks.fallback_text": lambda h: [blocks.fallback_text(assistant_reply(h))],
    "assistant.blocks.markdown_inert": lambda h: [blocks.markdown_inert(h)],
    # Each piece of a stream is shown on its own while the answer streams.
    "assistant.blocks.stream_chunks": lambda h: blocks.stream_chunks(
        blocks.markdown_inert(h * 20), 50),
}

ASSISTANT_NOT_BUILDERS: dict[str, str] = {
    "assistant.blocks.proposal_value": "a button's value (JSON Slack sends back, never shown)",
    "assistant.blocks.parse_proposal_value": "reads a button's value",
    "assistant.blocks.feedback_value": "a button's value (JSON Slack sends back, never shown)",
    "assistant.blocks.parse_feedback_value": "reads a button's value",
    "assistant.jobs.ask_job": "I/O: asks the service; posts REFUSAL or its own apology",
    "assistant.jobs.reply_job": "I/O: streams/posts markdown_inert, stream_chunks, "
                                "trailer_blocks, answer_blocks, fallback_text",
    "assistant.jobs.decide_job": "I/O: posts decided_blocks, answer_blocks; constant refusals",
    "assistant.jobs.outcome_job": "I/O: posts decided_blocks, fallback_text",
    "assistant.jobs.apology_job": "I/O: posts a constant apology naming the parked job's id",
    "assistant.jobs.feedback_job": "I/O: records feedback; constant refusals",
    "assistant.jobs.member_for": "roster member of a Slack user",
    "assistant.jobs.queue_job": "enqueues a job",
    "assistant.listeners.ask_payload": "a job payload",
    "assistant.listeners.delivery_keys": "receipt keys of a delivery",
    "assistant.listeners.is_person_dm": "classifies an event",
    "assistant.listeners.queue_click": "enqueues a click's job",
    "assistant.listeners.register_assistant": "Bolt wiring",
}
