"""Block Kit for warm transfers (pure): the transfer card, the transcript in its thread, the
escalation notices, refusals and the hand-back modal.

Customer text (names, messages, tickets, CRM facts) is hostile: it reaches Slack only through
`slack_app.text` (`inert` in mrkdwn, `plain_text` objects elsewhere).
"""

from __future__ import annotations

import json
from typing import Any

from agent.support.models import TRIGGER_LABELS, TranscriptLine, TransferStatus, WarmTransfer
from agent.support.summary import intent_label
from service import conversations
from service.errors import NotFound, ServiceError
from slack_app.text import (
    channel_link,
    clip,
    code,
    context,
    inert,
    mrkdwn,
    one_line,
    plain_text,
    section,
    slack_date,
    who,
)

ACTION_CLAIM = "support_claim"
ACTION_RESOLVE = "support_resolve"
ACTION_HAND_BACK = "support_hand_back"
VIEW_HAND_BACK = "support_hand_back_modal"
TRANSCRIPT_CHUNK = 2800
_ROLE = {"customer": "Customer", "bot": "Bot", "agent": "Agent", "system": "System"}

def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "button", "action_id": action_id, "value": value,
                               "text": plain_text(text, 75, emoji=True)}  # our own words
    if style:
        element["style"] = style
    return element


def _customer_text(package: WarmTransfer) -> str:
    c = package.customer
    # One line each: the company (and a name from the CRM) are the record's own text.
    head = [inert(one_line(c.name or c.email) or "Unknown customer")]
    if c.email and c.name:
        head.append(inert(one_line(c.email)))
    if c.company:
        head.append(inert(one_line(c.company)))
    facts = []
    if c.employees:
        facts.append(f"{c.employees:,} employees" + (f" ({inert(c.segment)})" if c.segment
                                                     else ""))
    facts.append(f"plan: {inert(c.plan or 'unknown')}")
    value = {"high": ":star: high value", "standard": "standard value",
             "unknown": "value unknown (not in our records)"}[c.value]
    if c.value_reasons:
        value += f" ({inert('; '.join(c.value_reasons))})"
    facts.append(value)
    if c.account_owner:
        facts.append(f"account owner {who(c.account_owner)}")
    if c.previous_transfers:
        facts.append(f"{c.previous_transfers} earlier transfer(s)")
    lines = [f"*Customer*: {' · '.join(head)}", "• " + " · ".join(facts)]
    if c.open_tickets:
        tickets = "; ".join(inert(t.get("subject") or "untitled") for t in c.open_tickets)
        lines.append(f"• Open tickets ({len(c.open_tickets)}): {tickets}")
    else:
        lines.append("• Open tickets: none")
    if c.recent_activity:
        lines.append("• Recent activity: " + "; ".join(
            inert(a.get("detail")) for a in c.recent_activity[:3]))
    return "\n".join(lines)


def _tried_text(package: WarmTransfer) -> str:
    tried = package.bot_tried
    articles = tried.get("articles") or []
    shown = ", ".join(f"“{inert(a.get('title'))}”"
                      + (f" ×{inert(a['times_shown'])}" if a.get("times_shown", 1) > 1 else "")
                      for a in articles) or "no article"
    return (f"*What the bot already tried*: {inert(tried.get('answers', 0))} answer(s), "
            f"{inert(tried.get('misses', 0))} question(s) it could not answer; showed {shown}.")


def status_text(package: WarmTransfer) -> str:
    if package.status == TransferStatus.CLAIMED:
        when = f" {slack_date(package.claimed_at)}" if package.claimed_at else ""
        return f":raising_hand: *Claimed* by {who(package.owner)}{when}: they own it now."
    if package.status == TransferStatus.RESOLVED:
        when = f" {slack_date(package.closed_at)}" if package.closed_at else ""
        return f":white_check_mark: *Resolved* by {who(package.closed_by)}{when}."
    if package.status == TransferStatus.HANDED_BACK:
        when = f" {slack_date(package.closed_at)}" if package.closed_at else ""
        note = "\n> Note: " + inert(package.note).replace("\n", "\n> ") if package.note else ""
        return f":leftwards_arrow_with_hook: *Handed back to the bot* by " \
               f"{who(package.closed_by)}{when}.{note}"
    if package.escalated_at:
        return (f":rotating_light: *Unclaimed*: escalated to {who(package.escalated_to)} "
                f"{slack_date(package.escalated_at)}. The customer was told.")
    return ":hourglass_flowing_sand: *Waiting for someone to claim it.* The customer was told a "\
           "person is coming."


def _number(value: Any) -> str:
    try:
        return f"{float(value):+.2f}"
    except (TypeError, ValueError):
        return "?"


def transfer_card(package: WarmTransfer) -> tuple[str, list[dict[str, Any]]]:
    """The card for one warm transfer, as it stands (buttons follow the status)."""
    customer = package.customer.name or package.customer.email or "a customer"
    trigger = package.trigger
    also = [TRIGGER_LABELS[t].lower() for t in trigger.get("also") or [] if t in TRIGGER_LABELS]
    sentiment = package.sentiment
    fields = [
        f"*Trigger*\n{inert(trigger.get('label'))}: {inert(trigger.get('detail'))}"
        + (f"\n_also: {', '.join(also)}_" if also else ""),
        f"*Sentiment*\n{_number(sentiment.get('current', 0))} "
        f"({inert(sentiment.get('trend'))}), average {_number(sentiment.get('average', 0))}",
        f"*Intent*\n{inert(intent_label(package.intent))}",
        f"*Waiting since*\n{slack_date(package.waiting_since)}",
    ]
    steps = "\n".join(f"• {inert(s)}" for s in package.suggested_next_steps) or "• —"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": plain_text(f"Warm transfer: {customer}", 150)},
        section(f"*Summary*\n{inert(package.summary)}"),
        {"type": "section", "fields": [mrkdwn(f, 2000) for f in fields]},
        section(_customer_text(package)),
        section(_tried_text(package)),
        section(f"*Suggested next steps*\n{steps}\n*Suggested reply*\n>"
                + inert(package.suggested_reply).replace("\n", "\n>")),
        section(status_text(package)),
    ]
    value = package.handoff_id
    if package.status == TransferStatus.WAITING:
        blocks.append({"type": "actions", "block_id": "support_actions", "elements": [
            _button("Claim", ACTION_CLAIM, value, "primary")]})
    elif package.status == TransferStatus.CLAIMED:
        blocks.append({"type": "actions", "block_id": "support_actions", "elements": [
            _button("Resolve", ACTION_RESOLVE, value, "primary"),
            _button("Hand back to the bot", ACTION_HAND_BACK, value)]})
    blocks.append(context(
        f"Handoff {code(package.handoff_id)} · conversation "
        f"{code(package.conversation_id)} · policy {inert(package.policy_version or '?')} · "
        "the owner's replies in this thread go to the customer"))
    reason = TRIGGER_LABELS.get(str(trigger.get("reason")), "")
    text = clip(f"Warm transfer: {inert(customer)} ({reason}) - "
                f"{package.status.replace('_', ' ')}", 3000)
    return text, blocks


def transcript_line(line: TranscriptLine) -> str:
    role = _ROLE[line.role] + (f" {who(line.author)}" if line.role == "agent" and line.author
                               else "")
    text = inert(line.text).replace("\n", "\n>")
    return f"*{role}* {slack_date(line.at, '{time}')}\n>{text}"


def transcript_messages(lines: list[TranscriptLine]) -> list[str]:
    """The transcript as thread messages of at most TRANSCRIPT_CHUNK characters each."""
    out: list[str] = []
    current = f":scroll: *Full transcript* ({len(lines)} messages)"
    for line in lines:
        entry = clip(transcript_line(line), TRANSCRIPT_CHUNK)
        if len(current) + len(entry) + 2 > TRANSCRIPT_CHUNK:
            out.append(current)
            current = entry
        else:
            current = f"{current}\n\n{entry}"
    out.append(current)
    return out


def escalation_notice(lead: str | None, waited_minutes: int | None) -> str:
    """In the card's thread: the support lead (`lead`: Slack id or roster key) is called in."""
    waited = f" for {waited_minutes} minutes" if waited_minutes is not None else ""
    return (f":rotating_light: {who(lead)} nobody has claimed this conversation{waited}. "
            "The customer was told we are escalating it to you.")


def escalation_dm(package: WarmTransfer, channel: str | None, waited_minutes: int | None
                  ) -> tuple[str, list[dict[str, Any]]]:
    """The support lead's DM: an introduction, then the transfer card."""
    text, blocks = transfer_card(package)
    waited = f" for {waited_minutes} minutes" if waited_minutes is not None else ""
    where = f" in {link}" if (link := channel_link(channel)) else ""
    intro = section(f":rotating_light: An unclaimed warm transfer{where} has waited{waited}; "
                    "it was escalated to you.")
    return f"Escalated to you: {text}", [intro, *blocks]


def refusal_text(exc: ServiceError) -> str:
    """Why a support action changed nothing, in the clicker's terms."""
    if isinstance(exc, conversations.AlreadyClaimed):
        return f"This conversation is already claimed by {who(exc.owner)}. Nothing changed."
    if isinstance(exc, NotFound):
        return "This conversation no longer exists. Nothing changed."
    message = inert(exc.message, 1000)
    return f"{message[:1].upper()}{message[1:]}. Nothing changed."


def hand_back_modal(handoff_id: str, channel: str | None, thread_ts: str | None
                    ) -> dict[str, Any]:
    return {
        "type": "modal", "callback_id": VIEW_HAND_BACK,
        "private_metadata": json.dumps({"handoff_id": handoff_id, "channel": channel,
                                        "thread_ts": thread_ts}),
        "title": plain_text("Hand back to the bot", 24),
        "submit": plain_text("Hand back", 24),
        "close": plain_text("Cancel", 24),
        "blocks": [{"type": "input", "block_id": "note", "optional": True,
                    "label": plain_text("Note for the record (not shown to the customer)",
                                        2000),
                    "element": {"type": "plain_text_input", "action_id": "note",
                                "multiline": True, "max_length": 2000}}],
    }
