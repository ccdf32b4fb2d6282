"""The rep's assistant (issue 17): the one door every surface uses to converse with it.

- `ask()` runs the assistant graph (agent/assistant) on the conversation's thread, one ask at
  a time per conversation (its lease): reads are answered at once from the store; every state
  change comes back as a `Proposal`.
- `decide_proposal()` records the rep's click atomically (the first decision wins; a second one
  is a Conflict, 409), with the job that guarantees an approval's execution, and only then
  resumes the proposal's interrupt with `Command(resume={"decisions": [{"type": "approve"}]})`;
  the graph executes an approved proposal through the existing service functions, exactly
  once; a failed execution is retried by the job, then parked where people see it
  (service/assistant_execution.py).
- `record_feedback()` keeps the rep's helpful / not helpful as an evaluation signal.

Only roster members get answers about leads, and only about leads they may see (their own, or
any as a manager); another rep's lead is answered exactly as a lead that does not exist.
"""

from __future__ import annotations

from typing import Any

from agent.policy import Member
from service.assistant_models import (
    MAX_ASK_CHARS,
    AssistantReply,
    Citation,
    Proposal,
    ProposalAction,
    ProposalDecision,
)
from service.runtime import AppRuntime

__all__ = ["MAX_ASK_CHARS", "AssistantReply", "Citation", "Proposal", "ProposalAction",
           "ProposalDecision", "ask", "decide_proposal", "feedback_summary", "record_feedback"]

def ask(rt: AppRuntime, member: Member, conversation_key: str, text: str,
        message_key: str | None = None) -> AssistantReply:
    """Answer `member`'s message in the conversation `conversation_key` (one per Slack DM
    thread, e.g. f"{channel}:{thread_ts}").

    `message_key` makes the ask idempotent (Slack: the message's f"{channel}:{ts}"): asked
    again with the same key, `member` gets the reply given the first time (same `reply_id`,
    text, citations and proposal ids) and the graph does not run again, so a surface that
    crashed before showing an answer can retry without a duplicate reply or proposals.

    Raises InvalidInput (422, field `text`) for an empty or oversized message (field
    `message_key` for a key longer than 150 characters), and Forbidden (403) when `member` is
    not on the roster.
    """
    from service.assistant_runs import run_ask

    return run_ask(rt, member, conversation_key, text, message_key)


def decide_proposal(rt: AppRuntime, member: Member, proposal_id: str,
                    decision: ProposalDecision, note: str | None = None,
                    notify: dict[str, Any] | None = None) -> AssistantReply:
    """Approve or reject a proposal; returns the reply that says what happened.

    An approval is recorded with a job that guarantees the execution: it is tried at once, and
    if that fails it is retried in the background (service/assistant_execution.py); the reply
    then says so. `notify` is the surface's way to be told later: where its answer is, and
    `notify["job"]`, the job kind that updates it (queued with the outcome of each retry).

    Raises NotFound (404: no such proposal, or not proposed to `member`, so another rep learns
    nothing from trying), Conflict (409: already decided) or InvalidInput (422: `decision`).
    """
    from service.assistant_runs import run_decision

    return run_decision(rt, member, proposal_id, decision, note, notify)


def record_feedback(rt: AppRuntime, member: Member, reply_id: str, helpful: bool) -> None:
    """Store the rep's verdict on a reply (the last click counts) as an evaluation signal.

    Raises NotFound (404) when the reply does not exist or was not given to `member`.
    """
    from service.assistant_runs import store_feedback

    store_feedback(rt, member, reply_id, helpful)


def feedback_summary(rt: AppRuntime, days: int = 7) -> dict[str, int | float | None]:
    """The reps' verdicts on the assistant's replies over the last `days` (an evaluation
    signal for reports): replies, rated helpful / not helpful, and the helpful rate."""
    from service.assistant_runs import summarize_feedback

    return summarize_feedback(rt, days)
