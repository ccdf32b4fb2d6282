"""Answers to questions asked in a card's thread, read from the why-now context package.

Deterministic on purpose: a reviewer asking "why band A?" gets the policy's own reasons, never a
model's paraphrase, and the answer costs no model call.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from slack_app.blocks.card import as_datetime, signal_line
from slack_app.text import TEXT_LIMIT, clip, code, inert, slack_date

QUESTION_WORDS = ("why", "what", "how", "when", "who", "which")
_WORD = re.compile(r"[a-z']+")


def is_question(text: str) -> bool:
    """A question ends with "?" or starts with why/what/how/when/who/which."""
    stripped = text.strip()
    if not stripped:
        return False
    if stripped.endswith("?"):
        return True
    words = _WORD.findall(stripped.lower())
    return bool(words) and words[0] in QUESTION_WORDS


def _has(words: set[str], *needles: str) -> bool:
    return any(n in words for n in needles)


def answer_question(text: str, context: dict[str, Any], *,
                    sla_due_at: datetime | None = None) -> str:
    """The answer (Slack mrkdwn) to one question about an approval's context package."""
    lowered = text.lower()
    words = set(_WORD.findall(lowered))
    parts: list[str] = []
    if _has(words, "sla", "deadline", "due", "overdue"):
        parts.append(f"*SLA due:* {slack_date(sla_due_at)}" if sla_due_at
                     else "*SLA:* none for this lead.")
    if _has(words, "band", "score", "scored", "fit", "icp", "qualified", "qualify", "grade"):
        parts.append(_band(context))
    if _has(words, "risk", "risks", "risky", "warning", "warnings", "concern", "concerns",
            "careful", "safe"):
        parts.append(_risks(context))
    if _has(words, "signal", "signals", "activity", "did", "done", "happened", "visited",
            "events", "when"):
        parts.append(_signals(context))
    if _has(words, "source", "campaign", "came", "where", "channel"):
        parts.append(_source(context))
    if _has(words, "touch", "contacted", "last"):
        parts.append(_last_touch(context))
    if _has(words, "next", "recommend", "recommended", "should", "asset", "angle", "approach"):
        parts.append(_next_step(context))
    if "why now" in lowered or (not parts and words & {"why", "now", "urgent", "today"}):
        parts.insert(0, f"*Why now:* {inert(context.get('why_now') or 'no summary')}")
    if not parts:
        parts.append(f"*Why now:* {inert(context.get('why_now') or 'no summary')}\n"
                     "_I can answer about the band and score, the signals, risks, source and "
                     "campaign, the last touch and the recommended next step. Anything else you "
                     "write here that is not a question is taken as a revision instruction._")
    return clip("\n\n".join(dict.fromkeys(parts)), TEXT_LIMIT)


def _band(context: dict[str, Any]) -> str:
    fit = context.get("fit") or {}
    lines = [f"*Band {inert(context.get('band', '?'))}*, score "
             f"{inert(context.get('score', '?'))} (route "
             f"{code(context.get('route', '?'))})."]
    if fit:
        lines.append(f"Fit {inert(fit.get('score', '?'))}: "
                     f"{inert(fit.get('segment') or 'unknown segment')}, "
                     f"{'in' if fit.get('in_icp') else 'outside'} the ICP.")
        lines += [f"• {inert(r)}" for r in fit.get("reasons") or []]
    lines.append(_signals(context))
    return "\n".join(lines)


def _signals(context: dict[str, Any]) -> str:
    signals = context.get("top_signals") or []
    if not signals:
        return "*Top signals:* none recorded."
    return "*Top signals:*\n" + "\n".join(signal_line(s) for s in signals)


def _risks(context: dict[str, Any]) -> str:
    risks = context.get("risks") or []
    if not risks:
        return "*Risks:* none found in the lead's history."
    return "*Risks:*\n" + "\n".join(
        f"• {inert(r.get('detail') or r.get('code'))} ({code(r.get('code'))})"
        for r in risks)


def _source(context: dict[str, Any]) -> str:
    return (f"*Source:* {inert(context.get('source') or 'unknown')} · *Campaign:* "
            f"{inert(context.get('campaign') or 'none')}")


def _last_touch(context: dict[str, Any]) -> str:
    touch = context.get("last_touch")
    if not touch:
        return "*Last touch:* none recorded."
    at = as_datetime(touch.get("occurred_at"))
    return (f"*Last touch:* {inert(touch.get('detail') or touch.get('type'))}"
            + (f" ({slack_date(at)})" if at else ""))


def _next_step(context: dict[str, Any]) -> str:
    action = context.get("recommended_action") or {}
    text = f"*Recommended next step:* {inert(action.get('next_step') or 'none')}"
    if action.get("message_angle"):
        text += f"\n*Angle:* {inert(action['message_angle'])}"
    asset = action.get("asset") or {}
    if asset.get("title"):
        text += f"\n*Asset:* {inert(asset['title'])}"
    return text
