"""What the rep's assistant answers with (issue 17): a reply, its citations and its proposals.

Every surface (the Slack DM, the evals, a future API) renders these models; none of them decides
anything. Text fields are plain text: the surface escapes them (slack_app/text.py), because lead
names and signals quoted in an answer are customer-supplied and hostile.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_ASK_CHARS = 4_000  # a rep's message, at most (a longer one is a 422 naming `text`)

# The state changes the assistant may propose; each one is an approval the rep clicks.
ProposalAction = Literal["draft_follow_up", "reassign", "snooze", "set_disposition"]
ProposalDecision = Literal["approve", "reject"]
_BOTH: tuple[ProposalDecision, ...] = ("approve", "reject")
ProposalStatus = Literal["pending", "approved", "rejected", "executed", "failed"]


class Citation(BaseModel):
    """A lead an answer used, and the signals (event ids with what they were) it relied on."""

    model_config = ConfigDict(frozen=True)

    lead_id: str
    name: str  # "Ada Lovelace (Acme)": customer-supplied text, escape when rendering
    signals: list[str] = Field(default_factory=list)  # "pricing page view (evt_123)"


class Proposal(BaseModel):
    """A state change waiting for the rep's click: one `HITLRequest` action request."""

    model_config = ConfigDict(frozen=True)

    proposal_id: str
    action: ProposalAction
    args: dict[str, Any]
    description: str
    allowed_decisions: list[ProposalDecision] = Field(
        default_factory=lambda: list(_BOTH))
    status: ProposalStatus = "pending"


class AssistantReply(BaseModel):
    """One answer in a conversation. `text` is plain text; `reply_id` is what feedback names."""

    reply_id: str
    conversation_key: str
    text: str
    citations: list[Citation] = Field(default_factory=list)
    proposals: list[Proposal] = Field(default_factory=list)
    # The tools the answer used, in order ("queue", "why_now", ...): for the evals and the log.
    tools_used: list[str] = Field(default_factory=list)
    # Every lead the exchange names (cited or not: a "which one?" question's candidates, a lead
    # the rep may not see but named): the surface files its message under them, so erasing one
    # of them finds it. Ids for the log only: never rendered.
    mentions: list[str] = Field(default_factory=list)
