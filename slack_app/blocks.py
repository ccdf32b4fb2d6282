"""Block Kit builders: pure functions from plain data (approval views, context packages) to the
dicts and texts Slack renders. No I/O here; tests compare the output as plain dicts.

Every lead-controlled value (and every draft a model wrote from one) goes through
`slack_app.text`: `inert` in mrkdwn, `plain_text` objects where the layout allows.

Slack limits respected here: 50 blocks per message (100 in a Home tab), 3,000 characters per
section text, 150 per header, 75 per button / option text, 24 per modal title and submit label,
3,000 per `plain_text_input` value, 3,000 for `private_metadata`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from agent.policy import REASON_CODES
from slack_app.text import (
    clean,
    clip,
    code,
    context,
    duration,
    inert,
    plain,
    plain_section,
    plain_text,
    section,
    slack_date,
    split_text,
    who,
)

SECTION_LIMIT = 3000
HEADER_LIMIT = 150
MAX_BLOCKS = 50
MAX_HOME_BLOCKS = 100
INPUT_LIMIT = 3000
SUBJECT_LIMIT = 300  # what DecisionIn accepts
# Body sections per card: 20 x 3,000 characters, leaving room for the ~15 other blocks.
MAX_BODY_SECTIONS = 20

ACTION_APPROVE = "approval_approve"
ACTION_EDIT = "approval_edit"
ACTION_ESCALATE = "approval_escalate"
ACTION_REJECT = "approval_reject"
DECISION_ACTIONS = (ACTION_APPROVE, ACTION_EDIT, ACTION_ESCALATE, ACTION_REJECT)

VIEW_EDIT = "approval_edit_modal"
VIEW_REJECT = "approval_reject_modal"
VIEW_ESCALATE = "approval_escalate_modal"

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
    if value is None or isinstance(value, datetime):
        return value
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _button_text(text: str) -> dict[str, Any]:
    return plain_text(text, 75, emoji=True)  # our own words only


# -- the approval card -------------------------------------------------------------------------

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


def lead_title(lead: dict[str, Any] | None, context: dict[str, Any] | None = None) -> str:
    """`Ada Park · Acme` as the lead wrote it: raw text, for `inert` or `plain_text`."""
    if not lead:
        return "A lead"
    name = " ".join(str(p) for p in (lead.get("first_name"), lead.get("last_name")) if p)
    name = name or str(lead.get("email") or "") or "A lead"
    return f"{name} · {lead['company']}" if lead.get("company") else name


def button_value(approval_id: str, version: int) -> str:
    return json.dumps({"approval_id": approval_id, "version": version}, separators=(",", ":"))


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


def _draft_blocks(subject: str, body: str, draft: dict[str, Any], version: int,
                  label: str = "Draft") -> list[dict[str, Any]]:
    to = inert(draft.get("to") or "the lead")
    blocks = [section(f"*{label} v{version}* · to {to}\n*Subject:* {inert(subject)}")]
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
    if status == "retrying":
        since = as_datetime(approval.get("failing_since"))
        next_at = as_datetime(approval.get("next_attempt_at"))
        line = ":hourglass_flowing_sand: Not sent yet: waiting for the mail server"
        line += f" since {slack_date(since)}" if since else ""
        line += f", next try {slack_date(next_at)}." if next_at else "."
        return line
    if status == "blocked":
        return f":no_entry: Not sent: {detail or 'blocked by a guardrail'}."
    if status == "failed":
        outbox_id = approval.get("outbox_id") or ""
        return (f":x: Not sent, gave up: {detail or 'the mail server refused it'}. "
                f"Retry with {code(f'hitl outbox retry {outbox_id}')} once it is fixed.")
    return "The email is queued for sending (once, to the lead's address on record)."


def send_failed_text(approval: dict[str, Any], lead: dict[str, Any] | None) -> str:
    """The DM to the holder and a manager when an approved email failed for good."""
    title = lead_title(lead, approval.get("context") or {})
    outbox_id = approval.get("outbox_id") or ""
    return (f":x: The approved email to {inert(title, 300)} was not sent: "
            f"{inert(clip(str(approval.get('send_detail') or 'the mail server refused it'), 500))}"
            f". Fix the cause, then retry it with {code(f'hitl outbox retry {outbox_id}')} "
            f"(or {code(f'POST /v1/outbox/{outbox_id}/retry')}); it will still go out only once.")


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
    if warning_lines:
        blocks.append(section("*Warnings*\n" + "\n".join(warning_lines)))
    due = as_datetime(approval.get("sla_due_at"))
    blocks.append(section(f"{sla_text(due, facts.now)} · assigned to "
                          f"{who(approval.get('assignee'))}"))
    blocks.append({"type": "divider"})

    payload = (facts.decision or {}).get("payload") or {}
    if approval.get("status") == "edited" and payload.get("body"):
        blocks += _draft_blocks(str(payload.get("subject") or draft.get("subject") or ""),
                                str(payload["body"]), draft, version, label="Edited draft")
    else:
        blocks += _draft_blocks(str(draft.get("subject") or ""), str(draft.get("body") or ""),
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
    text = clip(f"Approval v{version} for {inert(title)}: {status}", 3000)
    return text, blocks[:MAX_BLOCKS]


# -- texts sent without blocks (refusals, SLA nudges, erasure) ----------------------------------

def conflict_message(approval: dict[str, Any], newest_version: int | None, actor: str) -> str:
    """Why a decision on this version is no longer possible, in the reader's terms."""
    version = approval["version"]
    if approval["status"] == "superseded" or (newest_version and newest_version > version):
        newer = f"version {newest_version}" if newest_version else "a newer version"
        return (f"Version {version} was superseded by {newer}; decide on the newest card. "
                "Nothing was changed.")
    if approval["status"] == "revised":
        return (f"Version {version} is being redrafted as you asked; the new version will "
                "appear in the thread shortly. Nothing else was changed.")
    decided_at = as_datetime(approval.get("decided_at"))
    by = "you" if approval.get("decided_by") == actor else who(approval.get("decided_by"))
    when = f" {slack_date(decided_at)}" if decided_at else ""
    return (f"This approval was already {inert(approval['status'])} by {by}{when}. "
            "Nothing was changed.")


def forbidden_message(assignee: str | None) -> str:
    """The refusal for someone who is neither the assignee nor a manager."""
    return (f"Only the assignee ({who(assignee)}) or a manager can decide this approval. "
            "Nothing was changed.")


def invalid_message(reason: str) -> str:
    """A decision the service refused as invalid (its message may quote what was typed)."""
    return f"That could not be recorded: {inert(reason, 1000)}"


def sla_reminder_text(assignee: str | None, due: datetime | None) -> str:
    """First SLA breach, to the holder (`assignee`: their Slack id, else their roster key)."""
    when = slack_date(due, "{time}") if due else "its SLA"
    return (f":alarm_clock: {who(assignee)} this card passed its SLA ({when}). Decide, or "
            "escalate it if you can't work it; left untouched it is reassigned.")


def sla_escalation_text(lead: dict[str, Any] | None, previous: str | None,
                        holder: str | None) -> str:
    """Second breach, to the manager and on the old card: who holds the lead now."""
    lead = lead or {}
    name = " ".join(str(p) for p in (lead.get("first_name"), lead.get("last_name")) if p)
    return (f":rotating_light: SLA missed twice on {inert(name or 'a lead', 300)} "
            f"({inert(lead.get('company') or 'unknown', 300)}): reassigned from {who(previous)} to "
            f"{who(holder)} with a refreshed package.")


ERASED_NOTICE = "This lead's personal data was erased on request."


def erased_card() -> tuple[str, list[dict[str, Any]]]:
    """What replaces every card of an erased lead."""
    return ERASED_NOTICE, [section(f":wastebasket: {ERASED_NOTICE}")]


# -- modals ------------------------------------------------------------------------------------

def modal_metadata(approval_id: str, version: int, channel: str | None,
                   thread_ts: str | None = None, **extra: Any) -> str:
    meta = {"approval_id": approval_id, "version": version, "channel": channel,
            "thread_ts": thread_ts, **extra}
    return json.dumps(meta, separators=(",", ":"))


def _modal(callback_id: str, title: str, submit: str, metadata: str,
           blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "modal", "callback_id": callback_id, "title": plain_text(title, 24),
            "submit": plain_text(submit, 24), "close": plain_text("Cancel", 24),
            "private_metadata": metadata, "blocks": blocks}


def edit_modal(approval: dict[str, Any], channel: str | None,
               thread_ts: str | None = None) -> dict[str, Any]:
    """Subject and body prefilled; a body longer than one input is split across several inputs
    at paragraph boundaries and joined back exactly on submission. Invisible characters are
    left out of the prefilled text, so they are not sent either."""
    draft = approval.get("draft") or {}
    subject = plain(draft.get("subject"))[:SUBJECT_LIMIT]
    chunks, joiners = split_text(plain(draft.get("body")), INPUT_LIMIT)
    blocks: list[dict[str, Any]] = [
        context(f"Version {approval['version']} to {inert(draft.get('to') or 'the lead')}."
                " Submitting sends this text once, as you leave it."),
        {"type": "input", "block_id": "subject", "label": plain_text("Subject"),
         "element": {"type": "plain_text_input", "action_id": "subject",
                     "initial_value": subject, "max_length": SUBJECT_LIMIT}},
    ]
    for index, chunk in enumerate(chunks):
        label = "Body" if len(chunks) == 1 else f"Body (part {index + 1} of {len(chunks)})"
        blocks.append({"type": "input", "block_id": f"body_{index}", "label": plain_text(label),
                       "element": {"type": "plain_text_input", "action_id": "body",
                                   "multiline": True, "initial_value": chunk,
                                   "max_length": INPUT_LIMIT}})
    meta = modal_metadata(approval["approval_id"], approval["version"], channel, thread_ts,
                          parts=len(chunks), joiners=joiners)
    return _modal(VIEW_EDIT, "Edit and send", "Send", meta, blocks)


def reject_modal(approval: dict[str, Any], channel: str | None,
                 thread_ts: str | None = None) -> dict[str, Any]:
    options = [{"text": plain_text(REASON_LABELS.get(reason, reason)), "value": reason}
               for reason in REASON_CODES]
    blocks: list[dict[str, Any]] = [
        {"type": "input", "block_id": "reason", "label": plain_text("Reason"),
         "element": {"type": "static_select", "action_id": "reason_code",
                     "placeholder": plain_text("Why is this lead not being contacted?"),
                     "options": options}},
        {"type": "input", "block_id": "note", "optional": True, "label": plain_text("Note"),
         "element": {"type": "plain_text_input", "action_id": "note", "multiline": True,
                     "max_length": 2000}},
    ]
    meta = modal_metadata(approval["approval_id"], approval["version"], channel, thread_ts)
    return _modal(VIEW_REJECT, "Reject and recycle", "Reject", meta, blocks)


def escalate_modal(approval: dict[str, Any], channel: str | None,
                   thread_ts: str | None = None) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {"type": "input", "block_id": "target", "optional": True,
         "label": plain_text("Escalate to"),
         "hint": plain_text("Leave empty to hand it to a manager from the roster.", 150),
         "element": {"type": "users_select", "action_id": "escalate_to",
                     "placeholder": plain_text("A manager from the roster")}},
        {"type": "input", "block_id": "note", "optional": True, "label": plain_text("Note"),
         "element": {"type": "plain_text_input", "action_id": "note", "multiline": True,
                     "max_length": 2000}},
    ]
    meta = modal_metadata(approval["approval_id"], approval["version"], channel, thread_ts)
    return _modal(VIEW_ESCALATE, "Escalate", "Escalate", meta, blocks)


# -- escalation history (posted in the new holder's card thread) --------------------------------

def history_messages(lead: dict[str, Any] | None, signals: list[dict[str, Any]],
                     versions: list[dict[str, Any]], *, total_signals: int | None = None
                     ) -> list[tuple[str, list[dict[str, Any]]]]:
    """The full history of a handoff as thread messages (each within the 50-block limit):
    every signal with its time, then every version with its draft, decision and notes.

    `versions` items: {"approval": approval_view, "decision": {...} | None}.
    """
    messages: list[tuple[str, list[dict[str, Any]]]] = []
    title = inert(lead_title(lead))
    lines = [signal_line(s) for s in signals]
    header = f"*History for {title}*\n*Signals* ({total_signals or len(signals)})"
    if total_signals and total_signals > len(signals):
        header += f", the latest {len(signals)} shown"
    sections = [section(header)]
    chunk: list[str] = []
    for line in lines or ["_none recorded_"]:
        if sum(len(x) + 1 for x in chunk) + len(line) > SECTION_LIMIT - 10:
            sections.append(section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
    sections.append(section("\n".join(chunk)))
    messages.append((clip(f"History for {title}: signals", 3000), sections[:MAX_BLOCKS]))

    for item in versions:
        approval, decision = item["approval"], item.get("decision")
        draft = approval.get("draft") or {}
        created = as_datetime(approval.get("created_at"))
        blocks = [section(f"*Version {approval['version']}* · assigned to "
                          f"{who(approval.get('assignee'))}"
                          + (f" · {slack_date(created)}" if created else ""))]
        blocks += _draft_blocks(str(draft.get("subject") or ""), str(draft.get("body") or ""),
                                draft, int(approval["version"]))
        outcome = outcome_text(approval, decision)
        if outcome:
            blocks.append(section(outcome))
        elif approval.get("status") == "pending":
            blocks.append(context("Awaiting a decision (the card above)."))
        messages.append((f"History: version {approval['version']}", blocks[:MAX_BLOCKS]))
    return messages


# -- App Home ----------------------------------------------------------------------------------

def home_view(member_name: str | None, approvals: list[dict[str, Any]], now: datetime, *,
              team: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The Home tab: the viewer's open approvals oldest first, each with its SLA state."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": plain_text("Your open approvals")}]
    if member_name is None:
        blocks.append(section("You are not on the team roster, so no approvals are assigned "
                              "to you. Ask an admin to add your Slack id to `HITL_TEAM_FILE`."))
        return {"type": "home", "blocks": blocks}
    if not approvals:
        blocks.append(section(f"Nothing waiting for you, {inert(member_name)}. :tada:"))
    blocks += _home_rows(approvals, now, limit=40)
    if team is not None:
        blocks.append({"type": "divider"})
        blocks.append({"type": "header", "text": plain_text(f"Team queue ({len(team)} open)")})
        blocks += _home_rows(team, now, limit=MAX_HOME_BLOCKS - len(blocks) - 1,
                             show_assignee=True)
    blocks.append(context(f"Updated {slack_date(now)}. Decide from each card in your DMs."))
    return {"type": "home", "blocks": blocks[:MAX_HOME_BLOCKS]}


def _home_rows(approvals: list[dict[str, Any]], now: datetime, *, limit: int,
               show_assignee: bool = False) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for approval in approvals:
        if len(rows) >= limit - 1 and len(approvals) > limit:
            rows.append(context(f"…and {len(approvals) - len(rows)} more."))
            break
        context_ = approval.get("context") or {}
        draft = approval.get("draft") or {}
        due = as_datetime(approval.get("sla_due_at"))
        if due is None:
            sla = "no SLA"
        elif due >= now:
            sla = f":hourglass_flowing_sand: due in {duration((due - now).total_seconds())}"
        else:
            sla = f":rotating_light: *overdue* by {duration((now - due).total_seconds())}"
        line = (f"*{inert(draft.get('to') or approval.get('lead_id'))}* · band "
                f"{inert(context_.get('band', '?'))} · v{approval.get('version')} · {sla}\n"
                f"{inert(clip(plain(draft.get('subject')), 200))}")
        if show_assignee:
            line += f"\nAssigned to {who(approval.get('assignee'))}"
        rows.append(section(line))
    return rows
