"""The "why now" sentence: who the lead is, what they did and when, and where they stand.

Built only from our own labels, counts and the cleaned record fields, never from reply text.
"""

from __future__ import annotations

from datetime import datetime

from agent.context.sanitize import SHORT_CHARS, clean_text
from agent.context.signals import WEEK, SignalGroup
from agent.context.timing import relative_time, utc
from agent.models import LeadProfile, Qualification, Signal, TopSignal


def _article(label: str) -> str:
    if label in ("form submission", "page view", "case study"):
        return {"form submission": "a form", "page view": "the website",
                "case study": "a case study"}[label]
    return f"the {label}"


def _phrase(signal_type: str, label: str) -> tuple[str, str]:
    """(past tense, gerund) for a signal kind, from our own labels only."""
    if signal_type == "form_submit":
        return f"submitted {_article(label)}", f"submitting {_article(label)}"
    if signal_type == "page_view":
        if label == "page view":
            return "visited the website", "visiting the website"
        return f"viewed {_article(label)}", f"viewing {_article(label)}"
    return {
        "email_click": ("clicked through an email", "clicking through an email"),
        "email_open": ("opened an email", "opening an email"),
        "event_attended": ("attended an event", "attending an event"),
        "inbound_reply": ("replied to an email", "replying to an email"),
        "meeting_booked": ("booked a meeting", "booking a meeting"),
        "product_usage": ("increased product usage", "increasing product usage"),
    }.get(signal_type, (f"had a {label}", f"having a {label}"))


def _times(n: int) -> str:
    return "twice" if n == 2 else f"{n} times"


def _person(lead: LeadProfile) -> str:
    name = clean_text(lead.name, SHORT_CHARS) or "This lead"
    about = [p for p in (clean_text(lead.title, SHORT_CHARS),
                         clean_text(lead.company, SHORT_CHARS)) if p]
    return f"{name} ({', '.join(about)})" if about else name


def _standing(qualification: Qualification) -> str:
    if qualification.route == "disqualified" or qualification.band == "disqualified":
        first = qualification.disqualifiers[0].reason if qualification.disqualifiers else ""
        reason = clean_text(first, 80)
        return "Disqualified" + (f": {reason}." if reason else ".")
    fit = qualification.fit
    parts = [
        f"Band {qualification.band}",
        fit.segment or "size unknown",
        "in ICP" if fit.in_icp else "outside ICP",
    ]
    if qualification.route == "strategic":
        parts.append("strategic account")
    if qualification.rising:
        parts.append("engagement rising")
    return ", ".join(parts) + "."


def why_now(
    lead: LeadProfile,
    qualification: Qualification,
    picked: list[tuple[Signal, float, SignalGroup]],
    last_touch: TopSignal | None,
    now: datetime,
) -> str:
    """One or two sentences: who, what they did and when, then their band and fit."""
    person = _person(lead)
    if not picked:
        first = f"{person} has no recent buying signals"
        if last_touch is not None:
            first += f"; last activity {relative_time(last_touch.occurred_at, now)}"
        return f"{first}. {_standing(qualification)}"

    seen: set[tuple[str, str]] = set()
    kinds: list[tuple[Signal, SignalGroup]] = []
    for signal, _, group in picked:
        if (signal.type, group.label) not in seen:
            seen.add((signal.type, group.label))
            kinds.append((signal, group))

    lead_signal, lead_group = kinds[0]
    past, _ = _phrase(lead_signal.type, lead_group.label)
    when = relative_time(lead_signal.occurred_at, now)
    if lead_group.count_week > 1 and now - lead_group.latest <= WEEK:
        sentence = f"{person} {past} {_times(lead_group.count_week)} this week, latest {when}"
    else:
        sentence = f"{person} {past} {when}"

    before: list[str] = []
    after: list[str] = []
    for signal, group in kinds[1:]:
        past_2, gerund = _phrase(signal.type, group.label)
        if group.count_week > 1 and now - group.latest <= WEEK:
            timing = f"{_times(group.count_week)} this week"
        else:
            timing = relative_time(group.latest, now)
        if group.latest > utc(lead_signal.occurred_at):
            after.append(f"{past_2} {timing}")
        else:
            before.append(f"{gerund} {timing}")
    if before:
        sentence += ", after " + " and ".join(before)
    if after:
        sentence += ", then " + " and ".join(after)
    return f"{sentence}. {_standing(qualification)}"
