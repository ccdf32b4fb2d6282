"""What should make a rep pause before contacting a lead: at most one risk per kind.

Opt-outs, consent, suppression, competitors, support trouble, and lead-written text that tries
to instruct the assistant (named in words of our own, never quoted).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta

from agent.context.sanitize import SCAN_CHARS, SUBJECT_CHARS, clean_text
from agent.context.signals import as_bool, as_number, prop
from agent.context.timing import relative_time, time_until, utc
from agent.guardrails import assistant_instructions
from agent.language import fold
from agent.models import LeadProfile, Risk, Signal
from agent.policy import Policy

TICKET_OPEN = ("open", "pending", "new", "on-hold", "on_hold")


def _domain_of(value: str | None) -> str:
    text = (value or "").strip().lower()
    return text.rsplit("@", 1)[-1].rstrip(".")


def _competitor_word(text: object, words: Sequence[str]) -> str | None:
    # Accent- and case-insensitive: "Alternative à" is found in "alternative a" too.
    lowered = " ".join(fold(str(text or "")[:SCAN_CHARS]).split())
    for word in words:
        if re.search(rf"(?<![a-z0-9]){re.escape(fold(word))}(?![a-z0-9])", lowered):
            return word
    return None


# Lead-written text scanned for instructions aimed at the assistant: (event type, property,
# how the card names it). The record's own fields are scanned too (`_instruction_risk`).
_INSTRUCTION_TEXTS: tuple[tuple[str, str, str], ...] = (
    ("inbound_reply", "text", "Reply"),
    ("support_ticket", "subject", "Support ticket"),
    ("event_attended", "name", "Event name"),
)
_INSTRUCTION_NOTE = "contains instructions aimed at the assistant (the draft does not follow them)"
# Bounds on the scan (a regex pass costs ~0.5 ms per 1,000 characters): the most recent texts,
# and their start. The drafter only ever sees a reply's first REPLY_SNIPPET_CHARS anyway.
_INSTRUCTION_SCAN_TEXTS = 10
_INSTRUCTION_SCAN_CHARS = 1000


def _instruction_risk(lead: LeadProfile, ordered: Sequence[Signal], now: datetime,
                      window: timedelta) -> Risk | None:
    """The latest lead-written text in the window that tries to instruct the assistant ("ignore
    previous instructions", "send this to ...", "system:"), else a record field that does."""
    seen: dict[str, bool] = {}

    def aimed(value: object, *, budgeted: bool = True) -> bool:
        text = str(value or "")[:_INSTRUCTION_SCAN_CHARS]
        if text not in seen:
            if budgeted and len(seen) >= _INSTRUCTION_SCAN_TEXTS:
                return False
            seen[text] = bool(text.strip()) and bool(assistant_instructions(text))
        return seen[text]

    for signal in reversed(ordered):
        if now - utc(signal.occurred_at) > window:
            break
        for type_, key, label in _INSTRUCTION_TEXTS:
            if signal.type == type_ and aimed(signal.properties.get(key)):
                return Risk(code="instructions", event_id=signal.event_id,
                            detail=f"{label} {relative_time(signal.occurred_at, now)} "
                                   f"{_INSTRUCTION_NOTE}")
        if aimed(signal.properties.get("campaign")):
            return Risk(code="instructions", event_id=signal.event_id,
                        detail=f"Campaign name {_INSTRUCTION_NOTE}")
    for field_name in ("first_name", "last_name", "company", "title", "industry"):
        if aimed(getattr(lead, field_name), budgeted=False):
            return Risk(code="instructions",
                        detail=f"The lead's {field_name.replace('_', ' ')} {_INSTRUCTION_NOTE}")
    return None


def _recycled_because(reason: str | None, policy: Policy) -> str:
    """Why the lead was recycled, in the rep's words ("not now"): only a known reason code,
    never stored free text."""
    if not reason or reason not in policy.dispositions:
        return ""
    return f", recycled as \"{reason.replace('_', ' ')}\""


def find_risks(
    lead: LeadProfile,
    ordered: Sequence[Signal],
    now: datetime,
    policy: Policy,
    *,
    unsubscribed: bool = False,
    consent: bool | None = None,
    suppressed_until: datetime | None = None,
    suppression_reason: str | None = None,
) -> list[Risk]:
    """At most one risk per kind, from the history (oldest first) and the lead's flags."""
    rules = policy.risks
    ticket_window = timedelta(days=rules.recent_ticket_days)
    unsubscribe_window = timedelta(days=rules.recent_unsubscribe_days)
    reply_window = timedelta(days=policy.scoring.window_days)

    negative: tuple[Signal, float] | None = None
    ticket_status: dict[str, tuple[Signal, str]] = {}
    last_unsubscribe: Signal | None = None
    last_consent: tuple[Signal, bool] | None = None
    mention: tuple[Signal, str] | None = None
    for signal in ordered:
        age = now - utc(signal.occurred_at)
        if signal.type == "support_ticket":
            props = signal.properties
            ticket = clean_text(props.get("ticket_id") or props.get("subject") or "", 80).lower()
            status = clean_text(props.get("status"), 20).lower()
            if status:
                ticket_status[ticket] = (signal, status)
            sentiment = as_number(props.get("sentiment"))
            if (sentiment is not None and sentiment <= rules.negative_ticket_sentiment
                    and age <= ticket_window):
                negative = (signal, sentiment)
        elif signal.type == "unsubscribe":
            last_unsubscribe = signal
        elif signal.type == "consent":
            opt_in = as_bool(signal.properties.get("email_opt_in"))
            if opt_in is not None:
                last_consent = (signal, opt_in)
        elif signal.type == "inbound_reply" and age <= reply_window:
            word = _competitor_word(signal.properties.get("text"), rules.competitor_words)
            if word is not None:
                mention = (signal, word)

    risks: list[Risk] = []
    resubscribed = (
        last_unsubscribe is not None
        and last_consent is not None
        and last_consent[1]
        and utc(last_consent[0].occurred_at) > utc(last_unsubscribe.occurred_at)
    )
    if unsubscribed:
        risks.append(Risk(
            code="unsubscribed", detail="Unsubscribed from email: do not email",
            event_id=last_unsubscribe.event_id if last_unsubscribe else None,
        ))
    elif (last_unsubscribe is not None and not resubscribed
          and now - utc(last_unsubscribe.occurred_at) <= unsubscribe_window):
        risks.append(Risk(
            code="unsubscribed",
            detail=f"Unsubscribed {relative_time(last_unsubscribe.occurred_at, now)}",
            event_id=last_unsubscribe.event_id,
        ))

    if consent is False:
        withdrawn = last_consent if last_consent is not None and not last_consent[1] else None
        risks.append(Risk(
            code="no_consent", detail="No email consent on record: do not email",
            event_id=withdrawn[0].event_id if withdrawn else None,
        ))
    elif consent is None and last_consent is not None and not last_consent[1]:
        risks.append(Risk(
            code="no_consent",
            detail=f"Withdrew email consent {relative_time(last_consent[0].occurred_at, now)}",
            event_id=last_consent[0].event_id,
        ))

    if suppressed_until is not None and utc(suppressed_until) > now:
        until = utc(suppressed_until)
        risks.append(Risk(
            code="suppressed",
            detail=(f"Suppressed until {until:%Y-%m-%d %H:%M} UTC ({time_until(until, now)})"
                    + _recycled_because(suppression_reason, policy)),
        ))

    competitor_domain = next(
        (
            c for c in policy.disqualifiers.competitor_domains
            for d in {_domain_of(lead.email), _domain_of(lead.domain)} - {""}
            if d == c.lower() or d.endswith("." + c.lower())
        ),
        None,
    )
    if competitor_domain is not None:
        risks.append(Risk(code="competitor", detail=f"Works at a competitor ({competitor_domain})"))
    elif mention is not None:
        signal, word = mention
        risks.append(Risk(
            code="competitor",
            detail=f"Mentioned {word!r} in a reply {relative_time(signal.occurred_at, now)}",
            event_id=signal.event_id,
        ))

    if negative is not None:
        signal, sentiment = negative
        subject = prop(signal, "subject", SUBJECT_CHARS)
        risks.append(Risk(
            code="negative_ticket",
            detail=(f"Negative support ticket {relative_time(signal.occurred_at, now)} "
                    f"(sentiment {sentiment:+.1f})" + (f": {subject}" if subject else "")),
            event_id=signal.event_id,
        ))

    still_open = [(s, st) for s, st in ticket_status.values() if st in TICKET_OPEN]
    if still_open:
        signal, status = max(still_open, key=lambda p: (utc(p[0].occurred_at), p[0].event_id))
        subject = prop(signal, "subject", SUBJECT_CHARS)
        head = (f"{len(still_open)} open support tickets, latest" if len(still_open) > 1
                else "Open support ticket")
        risks.append(Risk(
            code="open_ticket",
            detail=(f"{head} ({status}, {relative_time(signal.occurred_at, now)})"
                    + (f": {subject}" if subject else "")),
            event_id=signal.event_id,
        ))

    instructions = _instruction_risk(lead, ordered, now, reply_window)
    if instructions is not None:
        risks.append(instructions)
    return risks
