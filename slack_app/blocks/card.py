"""The approval card: the facts a reviewer needs, the draft exactly as it would be sent, and
the decision buttons while the version can still be decided. Pure: plain data in, Block Kit out.

Every lead-controlled value (and every draft a model wrote from one) goes through
`slack_app.text`: `inert` in mrkdwn, `plain_text` objects where the layout allows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from service.lifecycle import outcome_unknown
from slack_app.text import (
    SECTION_LIMIT,
    TEXT_LIMIT,
    clean,
    clip,
    code,
    context,
    duration,
    inert,
    one_line,
    plain_section,
    plain_text,
    section,
    slack_date,
    split_text,
    who,
)

HEADER_LIMIT = 150
MAX_BLOCKS = 50
# Body sections per card: 20 x 3,000 characters, leaving room for the ~15 other blocks.
MAX_BODY_SECTIONS = 20

ACTION_APPROVE = "approval_approve"
ACTION_EDIT = "approval_edit"
ACTION_ESCALATE = "approval_escalate"
ACTION_REJECT = "approval_reject"
DECISION_ACTIONS = (ACTION_APPROVE, ACTION_EDIT, ACTION_ESCALATE, ACTION_REJECT)

REASON_LABELS: dict[str, str] = {
    "connected": "Already connected",
    "meeting_set": "Meeting already set",
    "no_response": "No response",
    "not_icp": "Not a fit (not ICP)",
    "not_now": "Not now",
    "competitor": "Competitor",
    "duplicate": "Duplicate",
}

_OUTCOME = {
    "approved": (":white_check_mark:", "Approved"),
    "edited": (":pencil2:", "Edited and approved"),
    "revised": (":arrows_counterclockwise:", "Revision requested"),
    "escalated": (":arrow_up:", "Escalated"),
    "rejected": (":x:", "Rejected"),
    "reassigned": (":rotating_light:", "SLA missed twice: reassigned"),
}


def as_datetime(value: Any) -> datetime | None:
    """A stored or JSON timestamp as an aware datetime (naive means UTC); None if unreadable."""
    if value is None or isinstance(value, datetime):
        return value
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _button_text(text: str) -> dict[str, Any]:
    return plain_text(text, 75, emoji=True)  # our own words only


@dataclass(frozen=True)
class CardFacts:
    """Everything one rendering of a card needs, read by the caller; the builder does no I/O."""

    approval: dict[str, Any]                 # service.approvals.approval_view()
    lead: dict[str, Any] | None              # first_name, last_name, email, company (None
                                             # once erased)
    now: datetime
    decision: dict[str, Any] | None = None   # action, actor, payload, created_at
    newer_version: int | None = None         # a newer version of this handoff exists
    newer_holder: str | None = None          # who holds that newer version
    newer_in_thread: bool = True             # posted in this card's thread (else elsewhere)


def lead_name(lead: dict[str, Any] | None) -> str:
    """`Ada Park` on one line as the record has it (raw text, for `inert` or `plain_text`);
    empty when the record has no name."""
    lead = lead or {}
    return one_line(" ".join(str(p) for p in (lead.get("first_name"), lead.get("last_name"))
                             if p))


def lead_title(lead: dict[str, Any] | None, context: dict[str, Any] | None = None) -> str:
    """`Ada Park · Acme` on one line as the lead wrote it: raw text, for `inert` or
    `plain_text`."""
    if not lead:
        return "A lead"
    name = lead_name(lead) or one_line(lead.get("email")) or "A lead"
    company = one_line(lead.get("company"))
    return f"{name} · {company}" if company else name


def button_value(approval_id: str, version: int) -> str:
    return json.dumps({"approval_id": approval_id, "version": version}, separators=(",", ":"))


def approval_on(blocks: list[dict[str, Any]]) -> str | None:
    """The approval a card's buttons decide (None for any other message)."""
    for block in blocks:
        for element in block.get("elements") or () if block.get("type") == "actions" else ():
            parsed = parse_button_value(element.get("value"))
            if parsed is not None:
                return parsed[0]
    return None


def parse_button_value(value: str | None) -> tuple[str, int] | None:
    try:
        data = json.loads(value or "")
        return str(data["approval_id"]), int(data["version"])
    except (ValueError, KeyError, TypeError):
        return None


def _fit_line(context: dict[str, Any]) -> str:
    fit = context.get("fit") or {}
    parts = [f"*Band {inert(context.get('band', '?'))}*",
             f"score {_number(context.get('score'))}"]
    if fit:
        segment = fit.get("segment") or "unknown segment"
        parts.append(f"fit {_number(fit.get('score'))} ({inert(segment)}, "
                     f"{'in ICP' if fit.get('in_icp') else 'outside ICP'})")
    if context.get("route"):
        parts.append(f"route {code(context['route'])}")
    line = " · ".join(parts)
    reasons = [inert(r) for r in fit.get("reasons") or []]
    if reasons:
        line += "\n" + "; ".join(reasons)
    return line


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() or value >= 10 else f"{value:.2f}"
    return inert(value) if value is not None else "?"


def signal_line(signal: dict[str, Any]) -> str:
    at = as_datetime(signal.get("occurred_at"))
    when = slack_date(at) if at else "unknown time"
    detail = inert(signal.get("detail") or signal.get("type") or "signal")
    return f"• {detail} — {when}"


def _signals_text(context: dict[str, Any]) -> str:
    signals = context.get("top_signals") or []
    if not signals:
        return "*Top signals*\n_none recorded_"
    return "*Top signals*\n" + "\n".join(signal_line(s) for s in signals)


def _touch_line(context: dict[str, Any]) -> str:
    parts = []
    touch = context.get("last_touch")
    if touch:
        at = as_datetime(touch.get("occurred_at"))
        detail = inert(touch.get("detail") or touch.get("type"))
        parts.append(f"*Last touch:* {detail}" + (f" ({slack_date(at)})" if at else ""))
    else:
        parts.append("*Last touch:* none")
    parts.append(f"*Source:* {inert(context.get('source') or 'unknown')}")
    parts.append(f"*Campaign:* {inert(context.get('campaign') or 'none')}")
    return " · ".join(parts)


def warnings(approval: dict[str, Any], now: datetime) -> list[str]:
    """Risks from the context package plus what a reviewer must know about the draft and SLA."""
    context = approval.get("context") or {}
    lines = [f":warning: {inert(r.get('detail') or r.get('code'))}"
             for r in context.get("risks") or []]
    draft = approval.get("draft") or {}
    if draft.get("source") == "fallback":
        lines.append(":warning: The model was unavailable: this is a fallback draft, read it "
                     "carefully.")
    due = as_datetime(approval.get("sla_due_at"))
    if due and due < now and approval.get("status") == "pending":
        lines.append(f":alarm_clock: SLA overdue by {duration((now - due).total_seconds())}")
    return lines


def sla_text(due: datetime | None, now: datetime) -> str:
    if due is None:
        return "*SLA:* none"
    delta = (due - now).total_seconds()
    state = f"due in {duration(delta)}" if delta >= 0 else f"*overdue* by {duration(delta)}"
    return f"*SLA:* {slack_date(due)} ({state})"


def draft_blocks(subject: str, body: str, draft: dict[str, Any], version: int,
                 label: str = "Draft") -> list[dict[str, Any]]:
    """A draft as blocks: header line, the body verbatim in `plain_text` sections, the note."""
    to = inert(draft.get("to") or "the lead")
    blocks = [section(f"*{inert(label)} v{version}* · to {to}\n*Subject:* {inert(subject)}")]
    # The body exactly as it would be sent, in plain_text: Slack parses nothing there.
    chunks, _ = split_text(clean(body), SECTION_LIMIT)
    if len(chunks) > MAX_BODY_SECTIONS:  # far beyond any draft (20,000 chars); stay legal
        chunks = chunks[:MAX_BODY_SECTIONS]
        chunks[-1] = clip(chunks[-1], SECTION_LIMIT - 40) + "\n[…truncated; see the API]"
    blocks += [plain_section(chunk) for chunk in chunks]
    note = draft.get("note")
    source = draft.get("source")
    if note or source in ("offline", "fallback"):
        blocks.append(context(f":robot_face: _{inert(note or f'{source} draft')}_"))
    return blocks


def _actions(approval: dict[str, Any]) -> dict[str, Any]:
    value = button_value(approval["approval_id"], approval["version"])
    version = approval["version"]

    def button(text: str, action_id: str, style: str | None = None) -> dict[str, Any]:
        b: dict[str, Any] = {"type": "button", "text": _button_text(text),
                             "action_id": action_id, "value": value}
        if style:
            b["style"] = style
        return b

    return {"type": "actions", "block_id": f"decide_v{version}", "elements": [
        button("Approve and send", ACTION_APPROVE, "primary"),
        button("Edit…", ACTION_EDIT),
        button("Escalate…", ACTION_ESCALATE),
        button("Reject…", ACTION_REJECT, "danger"),
    ]}


def send_status_text(approval: dict[str, Any]) -> str:
    """Where the approved email stands: what a rep needs to answer "did it go out?"."""
    status = approval.get("send_status")
    detail = inert(clip(str(approval.get("send_detail") or ""), 500))
    if status == "sent":
        sent_at = as_datetime(approval.get("sent_at"))
        return f":email: Sent{' ' + slack_date(sent_at) if sent_at else ''}."
    if status == "retrying" and approval.get("preparing"):
        next_at = as_datetime(approval.get("next_attempt_at"))
        return (f":hourglass_flowing_sand: Not sent yet: {detail}"
                + (f", next try {slack_date(next_at)}." if next_at else "."))
    if status == "retrying":
        since = as_datetime(approval.get("failing_since"))
        next_at = as_datetime(approval.get("next_attempt_at"))
        line = ":hourglass_flowing_sand: Not sent yet: waiting for the mail server"
        line += f" since {slack_date(since)}" if since else ""
        line += f", next try {slack_date(next_at)}." if next_at else "."
        return line
    if status == "blocked":
        return f":no_entry: Not sent: {detail or 'blocked by a guardrail'}."
    if status == "failed" and approval.get("preparing_job_id"):
        job_id = approval["preparing_job_id"]
        return (f":x: Not sent: {detail} ({code(f'hitl jobs retry {job_id}')}); it will still "
                "go out only once.")
    if status == "failed":
        outbox_id = approval.get("outbox_id") or ""
        retry = code(f"hitl outbox retry {outbox_id}")
        if outcome_unknown(approval.get("send_detail")):
            return (f":warning: Handed to the mail server but not confirmed, so not sent "
                    f"again: {detail}. If it did not arrive, send it with {retry}.")
        return (f":x: Not sent, gave up: {detail or 'the mail server refused it'}. "
                f"Retry with {retry} once it is fixed.")
    return "The email is queued for sending (once, to the lead's address on record)."


def outcome_text(approval: dict[str, Any], decision: dict[str, Any] | None) -> str | None:
    """`:white_check_mark: *Approved* by <@U…> <date>` and the decision's particulars."""
    status = approval.get("status")
    if status not in _OUTCOME:
        return None
    emoji, label = _OUTCOME[status]
    decided_at = as_datetime(approval.get("decided_at"))
    line = f"{emoji} *{label}* by {who(approval.get('decided_by'))}"
    if decided_at:
        line += f" {slack_date(decided_at)}"
    payload = (decision or {}).get("payload") or {}
    if status == "rejected" and payload.get("reason_code"):
        reason = str(payload["reason_code"])
        line += f"\nReason: {inert(REASON_LABELS.get(reason, reason))} ({code(reason)})"
    if status in ("escalated", "reassigned") and payload.get("escalate_to"):
        line += f"\n{who(payload['escalate_to'])} holds it now."
    if status == "revised" and payload.get("instruction"):
        line += f"\nInstruction: “{inert(clip(str(payload['instruction']), 1500))}”"
    if status in ("approved", "edited"):
        line += "\n" + send_status_text(approval)
    if payload.get("note"):
        line += f"\nNote: “{inert(clip(str(payload['note']), 1000))}”"
    return line


def disqualified_since(lead: dict[str, Any] | None) -> list[str]:
    """A line when the lead is disqualified now (a later event: "Marketing Intern"): the card
    was drafted before, and whoever decides should know."""
    found = [d for d in (lead or {}).get("disqualifiers") or [] if isinstance(d, dict)]
    if not found:
        return []
    reasons = "; ".join(inert(d.get("reason") or d.get("code"), 200) for d in found)
    return [f":no_entry: The lead is disqualified now ({reasons}); it was not when this draft "
            "was written."]


def approval_card(facts: CardFacts) -> tuple[str, list[dict[str, Any]]]:
    """The approval card: (notification text, blocks). Buttons only while it can be decided."""
    approval = facts.approval
    context_ = approval.get("context") or {}
    draft = approval.get("draft") or {}
    version = int(approval["version"])
    title = lead_title(facts.lead, context_)
    pending = approval.get("status") == "pending" and facts.newer_version is None

    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": plain_text(f"{title} — approval v{version}", HEADER_LIMIT)},
        section(_fit_line(context_)),
        section(f"*Why now*\n{inert(context_.get('why_now') or 'no summary')}"),
        section(_signals_text(context_)),
        context(_touch_line(context_)),
    ]
    action = context_.get("recommended_action") or {}
    if action.get("next_step"):
        text = f"*Recommended:* {inert(action['next_step'])}"
        asset = action.get("asset") or {}
        if asset.get("title"):
            text += f"\n*Asset:* {inert(asset['title'])}"
        blocks.append(section(text))
    escalation = (approval.get("request") or {}).get("escalation")
    if escalation and pending:
        text = (f":arrow_heading_up: *Escalated to you* by {who(escalation.get('by'))}; "
                f"previously with {who(escalation.get('from'))}.")
        if escalation.get("note"):
            text += f"\nNote: “{inert(clip(str(escalation['note']), 1000))}”"
        blocks.append(section(text))
    warning_lines = warnings(approval, facts.now)
    if pending:
        warning_lines += disqualified_since(facts.lead)
    if warning_lines:
        blocks.append(section("*Warnings*\n" + "\n".join(warning_lines)))
    due = as_datetime(approval.get("sla_due_at"))
    blocks.append(section(f"{sla_text(due, facts.now)} · assigned to "
                          f"{who(approval.get('assignee'))}"))
    blocks.append({"type": "divider"})

    payload = (facts.decision or {}).get("payload") or {}
    if approval.get("status") == "edited" and payload.get("body"):
        blocks += draft_blocks(str(payload.get("subject") or draft.get("subject") or ""),
                                str(payload["body"]), draft, version, label="Edited draft")
    else:
        blocks += draft_blocks(str(draft.get("subject") or ""), str(draft.get("body") or ""),
                                draft, version)

    if pending:
        blocks.append(_actions(approval))
        blocks.append(context("Reply in this thread to ask for a revision (\"shorter, mention "
                              "the webinar\"), or ask a question (\"why this band?\")."))
    else:
        blocks.append({"type": "divider"})
        closing = [t for t in (outcome_text(approval, facts.decision),) if t]
        if facts.newer_version is not None:
            where = "in this thread" if facts.newer_in_thread else \
                f"now with {who(facts.newer_holder)}"
            closing.append(f":information_source: Superseded by version {facts.newer_version} "
                           f"({where}).")
        elif approval.get("status") == "superseded":
            closing.append(":information_source: Superseded by a newer version.")
        blocks.append(section("\n".join(closing) or "Decided."))

    status = "awaiting your decision" if pending else inert(approval.get("status"))
    text = clip(f"Approval v{version} for {inert(title)}: {status}", TEXT_LIMIT)
    return text, blocks[:MAX_BLOCKS]
