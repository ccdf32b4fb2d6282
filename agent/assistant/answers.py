"""The assistant's answers, written from tool results without a model, and the citations.

Lead-supplied text (names, companies, signal details) is quoted as data: in quotation marks,
cut to a bounded length, one line. It is never read for instructions, here or anywhere else.
The surface escapes the whole answer for Slack.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agent.assistant.state import ContentHit, KpiView, QueueView, WhyNowView

QUOTE_MAX = 160
QUEUE_SHOWN = 10
CITED_NAME_MAX = 120
REASON_WORDS = {"connected": "connected", "meeting_set": "meeting set",
                "no_response": "no response", "not_icp": "not ICP", "not_now": "not now",
                "competitor": "went with a competitor", "duplicate": "duplicate"}

HELP = ("I can help with: \"what's on my plate?\", \"why is Acme hot?\", \"draft a follow-up to "
        "Ada mentioning the webinar\", \"hand Globex to Sam\", \"snooze Initech until Monday\", "
        "\"mark Initech as not now\", \"how am I doing on SLAs this week?\", \"find a case study "
        "about logistics\". Anything that changes a lead comes to you as a proposal to approve.")


def quote(text: str | None, limit: int = QUOTE_MAX) -> str:
    """Customer text as a one-line quotation, never longer than `limit`."""
    flat = " ".join((text or "").split())
    if len(flat) > limit:
        flat = flat[: limit - 1].rstrip() + "…"
    return f"“{flat}”"


def _when(at: datetime | None, now: datetime) -> str:
    if at is None:
        return "no SLA"
    minutes = int((at - now).total_seconds() // 60)
    if minutes < 0:
        return f"overdue by {_span(-minutes)}"
    return f"due in {_span(minutes)}"


def _span(minutes: int) -> str:
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    return f"{minutes // (24 * 60)} days"


def queue_text(view: QueueView) -> str:
    if not view.items:
        return "Your plate is clear: no open approvals or handoffs waiting on you."
    lines = [f"You have {len(view.items)} open item(s), {view.overdue} overdue:"]
    for item in view.items[:QUEUE_SHOWN]:
        what = "approval waiting" if item.kind == "approval" else f"handoff {item.status}"
        band = f", band {item.band}" if item.band else ""
        lines.append(f"- {quote(item.lead.label, 80)}: {what}{band}, "
                     f"{_when(item.sla_due_at, view.now)}")
    if len(view.items) > QUEUE_SHOWN:
        lines.append(f"… and {len(view.items) - QUEUE_SHOWN} more.")
    return "\n".join(lines)


def why_now_text(view: WhyNowView) -> str:
    lines = [f"{quote(view.lead.label, 80)} is band {view.band} (score {view.score:g}, "
             f"route {view.route}, stage {view.stage}).",
             f"Why now: {quote(view.why_now, 300)}"]
    if view.top_signals:
        lines.append("Signals used:")
        lines += [f"- {quote(s.detail)} ({s.occurred_at:%Y-%m-%d %H:%M} UTC, {s.event_id})"
                  for s in view.top_signals]
    lines.append("Risks: " + ("; ".join(quote(r) for r in view.risks) if view.risks else "none"))
    lines.append(f"Next step: {quote(view.next_step, 200)}")
    if view.history:
        lines.append("Recent history: " + "; ".join(
            f"{h.occurred_at:%b %d} {quote(h.detail, 60)}" for h in view.history[:5]))
    return "\n".join(lines)


def kpi_text(view: KpiView) -> str:
    period = "Today" if view.days == 1 else f"In the last {view.days} days"
    if view.decided == 0:
        head = f"{period}: no decisions on your cards."
    else:
        rate = 100 * view.within_sla / view.decided
        head = (f"{period} you decided {view.decided} card(s), {view.within_sla} within SLA "
                f"({rate:.0f}%).")
    median = (f" Median time to decision: {view.median_minutes_to_decision:.0f} min."
              if view.median_minutes_to_decision is not None else "")
    return (f"{head}{median} Emails sent: {view.sent}. Open cards past their SLA right now: "
            f"{view.overdue_now}.")


def content_text(query: str, hits: list[ContentHit]) -> str:
    if not hits:
        return f"Nothing in the content library matches {quote(query, 80)}."
    lines = [f"From the content library for {quote(query, 80)}:"]
    lines += [f"- {h.title} ({h.kind}, {h.path})" + (f": {quote(h.summary, 120)}"
                                                    if h.summary else "") for h in hits]
    return "\n".join(lines)


def proposal_description(action: str, args: dict[str, Any], label: str,
                         target_name: str | None = None) -> str:
    """What the rep approves, in words (the card's text)."""
    who = quote(label, 80)
    if action == "draft_follow_up":
        extra = f" ({args['instruction']})" if args.get("instruction") else ""
        return (f"Draft a follow-up email to {who}{extra}. It arrives as a normal approval "
                "card; nothing is sent until you approve that card too.")
    if action == "reassign":
        return f"Reassign {who} to {target_name or args['to']}."
    if action == "snooze":
        return (f"Snooze {who} until {args['until']} 09:00 ({args.get('timezone', 'UTC')}): "
                "no new handoff before then unless they raise their hand.")
    if action == "set_disposition":
        words = REASON_WORDS.get(args["reason_code"], args["reason_code"])
        return f"Set the disposition of {who} to {words} (closes any open card for them)."
    raise ValueError(f"unexpected proposal action {action!r}")


def not_found_text(name: str) -> str:
    # The same words whether the lead does not exist or belongs to someone else.
    return (f"I couldn't find a lead matching {quote(name, 80)} among the leads you can see. "
            "Try their full name or company.")


def citation_for(view: WhyNowView) -> dict[str, Any]:
    return {"lead_id": view.lead.lead_id, "name": view.lead.label[:CITED_NAME_MAX],
            "signals": [f"{s.detail} ({s.event_id})" for s in view.top_signals]}
