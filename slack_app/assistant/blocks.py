"""Block Kit for the assistant's answers. Pure: an `AssistantReply` in, Slack payloads out.

An answer quotes lead names, signals and proposal descriptions, all customer-supplied: every
text goes through `slack_app.text` (`inert` for mrkdwn). A streamed answer is *markdown*
(`chat.startStream`'s `markdown_text`), where `[label](url)` and bare URLs make links:
`markdown_inert` also defuses those. Buttons carry ids only; the worker re-checks everything.

Layout of an answer: the text (sections; when streamed, the streamed markdown instead), the
leads and signals it used (context), each proposal (its description and Approve / Reject), and
the feedback buttons (helpful / not helpful).
"""

from __future__ import annotations

import json
import re
from typing import Any

from service.assistant_models import AssistantReply, Proposal
from slack_app.text import (
    SECTION_LIMIT,
    TEXT_LIMIT,
    clip,
    context,
    inert,
    mrkdwn,
    plain_text,
    section,
    split_text,
    who,
)

# Action ids, in one place: the listeners route on them, the tests click them.
ACTION_PROPOSAL_APPROVE = "assistant_proposal_approve"
ACTION_PROPOSAL_REJECT = "assistant_proposal_reject"
PROPOSAL_ACTIONS = (ACTION_PROPOSAL_APPROVE, ACTION_PROPOSAL_REJECT)
ACTION_FEEDBACK = "assistant_feedback"

# The prompts the agent view suggests (also in manifest.yml's `features.agent_view`).
SUGGESTED_PROMPTS: tuple[dict[str, str], ...] = (
    {"title": "What's on my plate?", "message": "What's on my plate?"},
    {"title": "Why is <lead> hot?", "message": "Why is <lead> hot?"},
    {"title": "How am I doing on SLAs this week?",
     "message": "How am I doing on SLAs this week?"},
)
STATUS_THINKING = "is thinking..."
LOADING_MESSAGES = ("Reading your queue...", "Checking the signals...", "Writing the answer...")

REFUSAL = ("Sorry, I can only help members of the sales team roster. If you should be on it, "
           "ask your manager to add you.")

MAX_TEXT_CHARS = 12_000  # chat.startStream's markdown limit; also plenty for a section list
MAX_TEXT_SECTIONS = 8
MAX_PROPOSALS = 10
STREAM_CHUNK = 400  # characters per chat.appendStream

_DECISION_LABEL = {"approve": ("Approve", "primary"), "reject": ("Reject", "danger")}
_ACTION_FOR = {"approve": ACTION_PROPOSAL_APPROVE, "reject": ACTION_PROPOSAL_REJECT}
_OUTCOME = {
    "approved": (":white_check_mark:", "Approved"),
    "executed": (":white_check_mark:", "Approved and done"),
    "failed": (":warning:", "Approved, but it could not be done"),
    "rejected": (":x:", "Rejected"),
}

# Markdown (not mrkdwn) makes links of `[label](url)`, `![alt](url)`, bare URLs and (GitHub's
# flavour, which Slack's clients follow) bare addresses and `www.` names; Slack's clients also
# link a bare `name.tld`. Look-alikes Slack's parser does not read: ［ ］ FULLWIDTH SQUARE
# BRACKETS, ∶ RATIO in `://`, ＠ FULLWIDTH COMMERCIAL AT in every address, ＃ FULLWIDTH NUMBER
# SIGN for a heading, and ․ ONE DOT LEADER for every dot between a word and a letter: a domain
# of any ending and case ("evil.support", "EVIL.RU"), never a list of endings that a new one
# slips past; "Node․js" or "report․pdf" read the same, and decimals ("3.5") keep their dot.
_MARKDOWN = str.maketrans({"[": "\uff3b", "]": "\uff3d"})
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):(?=//)")
_DOTTED = re.compile(r"(?<=\w)\.(?=[^\W\d_])")
_HEADING = re.compile(r"(^|\n)([ \t]*)#", re.MULTILINE)


def markdown_inert(text: Any, limit: int = MAX_TEXT_CHARS) -> str:
    """Hostile text for a streamed (markdown) answer: `inert` (no mentions, `<…>` tokens,
    formatting or emoji), and no link of any markdown form."""
    out = inert(text).translate(_MARKDOWN)
    out = _SCHEME.sub(lambda m: f"{m.group(1)}\u2236", out)
    out = _HEADING.sub(lambda m: f"{m.group(1)}{m.group(2)}\uff03", out)
    out = _DOTTED.sub("\u2024", out.replace("@", "\uff20"))
    return clip(out, limit)


def stream_chunks(text: str, size: int = STREAM_CHUNK) -> list[str]:
    """Escaped answer text in pieces for `chat.appendStream`: cut after a space where there is
    one, never inside an escape (`&lt;`); joined they are exactly `text`. (Escape first, then
    cut: escaping pieces one by one could miss a `://` split across two of them.)"""
    chunks: list[str] = []
    rest = text
    while len(rest) > size:
        cut = rest.rfind(" ", size // 2, size) + 1 or size
        amp = rest.rfind("&", max(cut - 6, 0), cut)
        if amp > 0 and ";" not in rest[amp:cut]:
            cut = amp
        chunks.append(rest[:cut])
        rest = rest[cut:]
    return [*chunks, rest] if rest or not chunks else chunks


def fallback_text(reply: AssistantReply) -> str:
    """The top-level `text` of a posted answer (notifications, screen readers)."""
    return inert(reply.text, TEXT_LIMIT) or "(no answer)"


def proposal_value(proposal_id: str, decision: str) -> str:
    return json.dumps({"proposal_id": proposal_id, "decision": decision}, separators=(",", ":"))


def parse_proposal_value(value: str | None) -> tuple[str, str] | None:
    """(proposal_id, decision) from a proposal button's value; None for anything else."""
    try:
        data = json.loads(value or "")
        proposal_id, decision = str(data["proposal_id"]), str(data["decision"])
    except (ValueError, KeyError, TypeError):
        return None
    if decision not in _ACTION_FOR or not proposal_id or len(proposal_id) > 64:
        return None
    return proposal_id, decision


def feedback_value(reply_id: str, helpful: bool) -> str:
    return json.dumps({"reply_id": reply_id, "helpful": helpful}, separators=(",", ":"))


def parse_feedback_value(value: str | None) -> tuple[str, bool] | None:
    """(reply_id, helpful) from a feedback button's value; None for anything else."""
    try:
        data = json.loads(value or "")
        reply_id, helpful = str(data["reply_id"]), data["helpful"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(helpful, bool) or not reply_id or len(reply_id) > 64:
        return None
    return reply_id, helpful


# -- blocks --------------------------------------------------------------------------------------

def text_blocks(text: str) -> list[dict[str, Any]]:
    """The answer's text as mrkdwn sections (inert), split at paragraph boundaries."""
    # Split the raw text, then escape each part: an escape (`&amp;`) is never cut in two, and
    # `section` clips a part that escaping made longer without breaking one either.
    chunks, _ = split_text(clip(text, MAX_TEXT_CHARS), SECTION_LIMIT // 2)
    return [{**section(inert(c)), "block_id": f"asst_text_{i}"}
            for i, c in enumerate(chunks[:MAX_TEXT_SECTIONS]) if c.strip()]


def citation_block(reply: AssistantReply) -> dict[str, Any] | None:
    """The leads and signals an answer used, one context element each (Slack allows 10)."""
    if not reply.citations:
        return None
    lines = []
    for citation in reply.citations[:10]:
        signals = "; ".join(inert(s, 200) for s in citation.signals[:5])
        lines.append(f":bookmark: *{inert(citation.name, 200)}*"
                     + (f": {signals}" if signals else ""))
    return {**context(*lines), "block_id": "asst_citations"}


def proposal_blocks(proposal: Proposal) -> list[dict[str, Any]]:
    """A proposal: what would change, and one button per decision the rep may make."""
    pid = proposal.proposal_id
    buttons = []
    for decision in proposal.allowed_decisions:
        label, style = _DECISION_LABEL[decision]
        buttons.append({"type": "button", "action_id": _ACTION_FOR[decision],
                        "text": plain_text(label, 75, emoji=True), "style": style,
                        "value": proposal_value(pid, decision)})
    return [
        {"type": "section", "block_id": f"asst_prop_{pid}",
         "text": mrkdwn(f":raised_hand: *Proposed:* {inert(proposal.description, 2500)}")},
        {"type": "actions", "block_id": f"asst_act_{pid}", "elements": buttons},
    ]


def feedback_block(reply_id: str) -> dict[str, Any]:
    """Slack's thumbs up / down for AI answers (`context_actions` + `feedback_buttons`)."""
    return {"type": "context_actions", "block_id": "asst_feedback", "elements": [{
        "type": "feedback_buttons", "action_id": ACTION_FEEDBACK,
        "positive_button": {"text": plain_text("Helpful", 75, emoji=True),
                            "accessibility_label": "This answer was helpful",
                            "value": feedback_value(reply_id, True)},
        "negative_button": {"text": plain_text("Not helpful", 75, emoji=True),
                            "accessibility_label": "This answer was not helpful",
                            "value": feedback_value(reply_id, False)},
    }]}


def trailer_blocks(reply: AssistantReply) -> list[dict[str, Any]]:
    """Everything after the text: citations, pending proposals, feedback (`chat.stopStream`)."""
    blocks: list[dict[str, Any]] = []
    cited = citation_block(reply)
    if cited is not None:
        blocks.append(cited)
    for proposal in [p for p in reply.proposals if p.status == "pending"][:MAX_PROPOSALS]:
        blocks.extend(proposal_blocks(proposal))
    blocks.append(feedback_block(reply.reply_id))
    return blocks


def answer_blocks(reply: AssistantReply) -> list[dict[str, Any]]:
    """A whole answer as one posted message (the non-streaming path)."""
    return [*text_blocks(reply.text), *trailer_blocks(reply)]


def decided_blocks(blocks: list[dict[str, Any]], proposal_id: str, decision: str,
                   slack_user: str, outcome: AssistantReply) -> list[dict[str, Any]]:
    """The answer's blocks (as Slack holds them) after a proposal was decided: its buttons
    replaced by who decided and what happened. Every other block is kept as it is."""
    status = next((p.status for p in outcome.proposals if p.proposal_id == proposal_id),
                  "approved" if decision == "approve" else "rejected")
    if status == "pending":
        status = "approved" if decision == "approve" else "rejected"
    icon, label = _OUTCOME.get(status, _OUTCOME["approved"])
    line = f"{icon} *{label}* by {who(slack_user)}"
    if outcome.text.strip():
        line += f": {inert(outcome.text, 2500)}"
    out = []
    for block in blocks:
        if block.get("block_id") == f"asst_act_{proposal_id}":
            out.append({**context(line), "block_id": f"asst_done_{proposal_id}"})
        else:
            out.append(block)
    return out
