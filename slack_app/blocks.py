"""Block Kit builders: pure functions from plain data (approval views, context packages) to the
dicts Slack renders. No I/O here; tests compare the output as plain dicts.

Slack limits respected here: 50 blocks per message (100 in a Home tab), 3,000 characters per
section text, 150 per header, 75 per button / option text, 24 per modal title and submit label,
3,000 per `plain_text_input` value, 3,000 for `private_metadata`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from agent.policy import REASON_CODES

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

_SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,}")


# -- text helpers ------------------------------------------------------------------------------

def escape(text: str) -> str:
    """Slack mrkdwn control characters; also neutralises <!channel> and <@U…> smuggled in by
    lead-supplied text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]*))?>")


def message_text(text: str) -> str:
    """What a person typed, from a message event's mrkdwn: links back to `label (url)`, and
    Slack's three escaped characters restored."""

    def link(match: re.Match[str]) -> str:
        url, label = match.group(1), match.group(2)
        if url.startswith("mailto:"):
            return label or url.removeprefix("mailto:")
        return f"{label} ({url})" if label and label != url else url

    text = _LINK.sub(link, text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def slack_date(at: datetime, fmt: str = "{date_short_pretty} {time}") -> str:
    """A date every reader sees in their own time zone, with a UTC fallback for old clients."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    fallback = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(at.timestamp())}^{fmt}|{fallback}>"


def who(key: str | None) -> str:
    """A roster key as Slack shows it: a mention for a Slack user id, else the (escaped) text."""
    if not key:
        return "someone"
    return f"<@{key}>" if _SLACK_USER.fullmatch(key) else escape(key)


def as_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def duration(seconds: float) -> str:
    """`3h 05m`, `2d 4h`, `12m`: short and readable."""
    minutes = int(abs(seconds) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {mins:02d}m"
    return f"{mins}m"


def split_text(text: str, limit: int) -> tuple[list[str], list[str]]:
    """Split long text into chunks of at most `limit` characters at paragraph, line or word
    boundaries. Returns the chunks and the whitespace removed between them, so
    `chunks[0] + joiners[0] + chunks[1] + ...` is exactly the input."""
    chunks: list[str] = []
    joiners: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = -1
        for sep in ("\n\n", "\n", " "):
            cut = rest.rfind(sep, 0, limit + 1)
            if cut > limit // 3:
                break
        if cut <= 0:
            cut = limit
        chunk, tail = rest[:cut], rest[cut:]
        stripped = tail.lstrip(" \n")
        chunks.append(chunk)
        joiners.append(tail[: len(tail) - len(stripped)])
        rest = stripped
    chunks.append(rest)
    return chunks, joiners


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_LIMIT)}}


def _context(*texts: str) -> dict[str, Any]:
    return {"type": "context",
            "elements": [{"type": "mrkdwn", "text": clip(t, SECTION_LIMIT)} for t in texts[:10]]}


def _plain(text: str, limit: int = 75) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(text, limit), "emoji": True}


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


def lead_title(lead: dict[str, Any] | None, context: dict[str, Any]) -> str:
    if not lead:
        return "A lead"
    name = " ".join(p for p in (lead.get("first_name"), lead.get("last_name")) if p)
    name = name or lead.get("email") or "A lead"
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
    parts = [f"*Band {escape(str(context.get('band', '?')))}*",
             f"score {_number(context.get('score'))}"]
    if fit:
        segment = fit.get("segment") or "unknown segment"
        parts.append(f"fit {_number(fit.get('score'))} ({escape(str(segment))}, "
                     f"{'in ICP' if fit.get('in_icp') else 'outside ICP'})")
    if context.get("route"):
        parts.append(f"route `{escape(str(context['route']))}`")
    line = " · ".join(parts)
    reasons = [escape(str(r)) for r in fit.get("reasons") or []]
    if reasons:
        line += "\n" + "; ".join(reasons)
    return line


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() or value >= 10 else f"{value:.2f}"
    return escape(str(value)) if value is not None else "?"


def signal_line(signal: dict[str, Any]) -> str:
    at = as_datetime(signal.get("occurred_at"))
    when = slack_date(at) if at else "unknown time"
    detail = escape(str(signal.get("detail") or signal.get("type") or "signal"))
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
        detail = escape(str(touch.get("detail") or touch.get("type")))
        parts.append(f"*Last touch:* {detail}" + (f" ({slack_date(at)})" if at else ""))
    else:
        parts.append("*Last touch:* none")
    parts.append(f"*Source:* {escape(str(context.get('source') or 'unknown'))}")
    parts.append(f"*Campaign:* {escape(str(context.get('campaign') or 'none'))}")
    return " · ".join(parts)


def warnings(approval: dict[str, Any], now: datetime) -> list[str]:
    """Risks from the context package plus what a reviewer must know about the draft and SLA."""
    context = approval.get("context") or {}
    lines = [f":warning: {escape(str(r.get('detail') or r.get('code')))}"
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
    to = escape(str(draft.get("to") or "the lead"))
    blocks = [_section(f"*{label} v{version}* · to {to}\n*Subject:* {escape(subject)}")]
    chunks, _ = split_text(body, SECTION_LIMIT)
    if len(chunks) > MAX_BODY_SECTIONS:  # far beyond any draft (20,000 chars); stay legal
        chunks = chunks[:MAX_BODY_SECTIONS]
        chunks[-1] = clip(chunks[-1], SECTION_LIMIT - 40) + "\n[…truncated; see the API]"
    blocks += [{"type": "section", "text": _plain(chunk, SECTION_LIMIT)} for chunk in chunks]
    note = draft.get("note")
    source = draft.get("source")
    if note or source in ("offline", "fallback"):
        blocks.append(_context(f":robot_face: _{escape(str(note or f'{source} draft'))}_"))
    return blocks


def _actions(approval: dict[str, Any]) -> dict[str, Any]:
    value = button_value(approval["approval_id"], approval["version"])
    version = approval["version"]

    def button(text: str, action_id: str, style: str | None = None) -> dict[str, Any]:
        b: dict[str, Any] = {"type": "button", "text": _plain(text), "action_id": action_id,
                             "value": value}
        if style:
            b["style"] = style
        return b

    return {"type": "actions", "block_id": f"decide_v{version}", "elements": [
        button("Approve and send", ACTION_APPROVE, "primary"),
        button("Edit…", ACTION_EDIT),
        button("Escalate…", ACTION_ESCALATE),
        button("Reject…", ACTION_REJECT, "danger"),
    ]}


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
        code = payload["reason_code"]
        line += f"\nReason: {REASON_LABELS.get(code, code)} (`{code}`)"
    if status in ("escalated", "reassigned") and payload.get("escalate_to"):
        line += f"\n{who(payload['escalate_to'])} holds it now."
    if status == "revised" and payload.get("instruction"):
        line += f"\nInstruction: “{escape(clip(str(payload['instruction']), 1500))}”"
    if status in ("approved", "edited"):
        line += "\nThe email is queued for sending (once, to the lead's address on record)."
    if payload.get("note"):
        line += f"\nNote: “{escape(clip(str(payload['note']), 1000))}”"
    return line


def approval_card(facts: CardFacts) -> tuple[str, list[dict[str, Any]]]:
    """The approval card: (notification text, blocks). Buttons only while it can be decided."""
    approval = facts.approval
    context = approval.get("context") or {}
    draft = approval.get("draft") or {}
    version = int(approval["version"])
    title = lead_title(facts.lead, context)
    pending = approval.get("status") == "pending" and facts.newer_version is None

    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(f"{title} — approval v{version}", HEADER_LIMIT)},
        _section(_fit_line(context)),
        _section(f"*Why now*\n{escape(str(context.get('why_now') or 'no summary'))}"),
        _section(_signals_text(context)),
        _context(_touch_line(context)),
    ]
    action = context.get("recommended_action") or {}
    if action.get("next_step"):
        text = f"*Recommended:* {escape(str(action['next_step']))}"
        asset = action.get("asset") or {}
        if asset.get("title"):
            text += f"\n*Asset:* {escape(str(asset['title']))}"
        blocks.append(_section(text))
    warning_lines = warnings(approval, facts.now)
    if warning_lines:
        blocks.append(_section("*Warnings*\n" + "\n".join(warning_lines)))
    due = as_datetime(approval.get("sla_due_at"))
    blocks.append(_section(f"{sla_text(due, facts.now)} · assigned to "
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
        blocks.append(_context("Reply in this thread to ask for a revision (\"shorter, mention "
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
        blocks.append(_section("\n".join(closing) or "Decided."))

    status = "awaiting your decision" if pending else str(approval.get("status"))
    text = clip(f"Approval v{version} for {title}: {status}", 3000)
    return text, blocks[:MAX_BLOCKS]


# -- modals ------------------------------------------------------------------------------------

def modal_metadata(approval_id: str, version: int, channel: str | None,
                   thread_ts: str | None = None, **extra: Any) -> str:
    meta = {"approval_id": approval_id, "version": version, "channel": channel,
            "thread_ts": thread_ts, **extra}
    return json.dumps(meta, separators=(",", ":"))


def _modal(callback_id: str, title: str, submit: str, metadata: str,
           blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "modal", "callback_id": callback_id, "title": _plain(title, 24),
            "submit": _plain(submit, 24), "close": _plain("Cancel", 24),
            "private_metadata": metadata, "blocks": blocks}


def edit_modal(approval: dict[str, Any], channel: str | None,
               thread_ts: str | None = None) -> dict[str, Any]:
    """Subject and body prefilled; a body longer than one input is split across several inputs
    at paragraph boundaries and joined back exactly on submission."""
    draft = approval.get("draft") or {}
    subject = str(draft.get("subject") or "")[:SUBJECT_LIMIT]
    chunks, joiners = split_text(str(draft.get("body") or ""), INPUT_LIMIT)
    blocks: list[dict[str, Any]] = [
        _context(f"Version {approval['version']} to {escape(str(draft.get('to') or 'the lead'))}."
                 " Submitting sends this text once, as you leave it."),
        {"type": "input", "block_id": "subject", "label": _plain("Subject"),
         "element": {"type": "plain_text_input", "action_id": "subject",
                     "initial_value": subject, "max_length": SUBJECT_LIMIT}},
    ]
    for index, chunk in enumerate(chunks):
        label = "Body" if len(chunks) == 1 else f"Body (part {index + 1} of {len(chunks)})"
        blocks.append({"type": "input", "block_id": f"body_{index}", "label": _plain(label),
                       "element": {"type": "plain_text_input", "action_id": "body",
                                   "multiline": True, "initial_value": chunk,
                                   "max_length": INPUT_LIMIT}})
    meta = modal_metadata(approval["approval_id"], approval["version"], channel, thread_ts,
                          parts=len(chunks), joiners=joiners)
    return _modal(VIEW_EDIT, "Edit and send", "Send", meta, blocks)


def reject_modal(approval: dict[str, Any], channel: str | None,
                 thread_ts: str | None = None) -> dict[str, Any]:
    options = [{"text": _plain(REASON_LABELS.get(code, code)), "value": code}
               for code in REASON_CODES]
    blocks: list[dict[str, Any]] = [
        {"type": "input", "block_id": "reason", "label": _plain("Reason"),
         "element": {"type": "static_select", "action_id": "reason_code",
                     "placeholder": _plain("Why is this lead not being contacted?"),
                     "options": options}},
        {"type": "input", "block_id": "note", "optional": True, "label": _plain("Note"),
         "element": {"type": "plain_text_input", "action_id": "note", "multiline": True,
                     "max_length": 2000}},
    ]
    meta = modal_metadata(approval["approval_id"], approval["version"], channel, thread_ts)
    return _modal(VIEW_REJECT, "Reject and recycle", "Reject", meta, blocks)


def escalate_modal(approval: dict[str, Any], channel: str | None,
                   thread_ts: str | None = None) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {"type": "input", "block_id": "target", "optional": True,
         "label": _plain("Escalate to"),
         "hint": _plain("Leave empty to hand it to a manager from the roster.", 150),
         "element": {"type": "users_select", "action_id": "escalate_to",
                     "placeholder": _plain("A manager from the roster")}},
        {"type": "input", "block_id": "note", "optional": True, "label": _plain("Note"),
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
    title = lead_title(lead, {})
    lines = [signal_line(s) for s in signals]
    header = f"*History for {escape(title)}*\n*Signals* ({total_signals or len(signals)})"
    if total_signals and total_signals > len(signals):
        header += f", the latest {len(signals)} shown"
    sections = [_section(header)]
    chunk: list[str] = []
    for line in lines or ["_none recorded_"]:
        if sum(len(x) + 1 for x in chunk) + len(line) > SECTION_LIMIT - 10:
            sections.append(_section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
    sections.append(_section("\n".join(chunk)))
    messages.append((f"History for {title}: signals", sections[:MAX_BLOCKS]))

    for item in versions:
        approval, decision = item["approval"], item.get("decision")
        draft = approval.get("draft") or {}
        created = as_datetime(approval.get("created_at"))
        blocks = [_section(f"*Version {approval['version']}* · assigned to "
                           f"{who(approval.get('assignee'))}"
                           + (f" · {slack_date(created)}" if created else ""))]
        blocks += _draft_blocks(str(draft.get("subject") or ""), str(draft.get("body") or ""),
                                draft, int(approval["version"]))
        outcome = outcome_text(approval, decision)
        if outcome:
            blocks.append(_section(outcome))
        elif approval.get("status") == "pending":
            blocks.append(_context("Awaiting a decision (the card above)."))
        messages.append((f"History: version {approval['version']}", blocks[:MAX_BLOCKS]))
    return messages


# -- App Home ----------------------------------------------------------------------------------

def home_view(member_name: str | None, approvals: list[dict[str, Any]], now: datetime, *,
              team: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The Home tab: the viewer's open approvals oldest first, each with its SLA state."""
    blocks: list[dict[str, Any]] = [{"type": "header", "text": _plain("Your open approvals")}]
    if member_name is None:
        blocks.append(_section("You are not on the team roster, so no approvals are assigned "
                               "to you. Ask an admin to add your Slack id to `HITL_TEAM_FILE`."))
        return {"type": "home", "blocks": blocks}
    if not approvals:
        blocks.append(_section(f"Nothing waiting for you, {escape(member_name)}. :tada:"))
    blocks += _home_rows(approvals, now, limit=40)
    if team is not None:
        blocks.append({"type": "divider"})
        blocks.append({"type": "header", "text": _plain(f"Team queue ({len(team)} open)")})
        blocks += _home_rows(team, now, limit=MAX_HOME_BLOCKS - len(blocks) - 1,
                             show_assignee=True)
    blocks.append(_context(f"Updated {slack_date(now)}. Decide from each card in your DMs."))
    return {"type": "home", "blocks": blocks[:MAX_HOME_BLOCKS]}


def _home_rows(approvals: list[dict[str, Any]], now: datetime, *, limit: int,
               show_assignee: bool = False) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for approval in approvals:
        if len(rows) >= limit - 1 and len(approvals) > limit:
            rows.append(_context(f"…and {len(approvals) - len(rows)} more."))
            break
        context = approval.get("context") or {}
        draft = approval.get("draft") or {}
        due = as_datetime(approval.get("sla_due_at"))
        if due is None:
            sla = "no SLA"
        elif due >= now:
            sla = f":hourglass_flowing_sand: due in {duration((due - now).total_seconds())}"
        else:
            sla = f":rotating_light: *overdue* by {duration((now - due).total_seconds())}"
        line = (f"*{escape(str(draft.get('to') or approval.get('lead_id')))}* · band "
                f"{escape(str(context.get('band', '?')))} · v{approval.get('version')} · {sla}\n"
                f"{escape(clip(str(draft.get('subject') or ''), 200))}")
        if show_assignee:
            line += f"\nAssigned to {who(approval.get('assignee'))}"
        rows.append(_section(line))
    return rows
