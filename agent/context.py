"""The "why now" context package: what a rep (and the drafter) needs to act on a lead, and no more.

`build_context_package` is deterministic and pure apart from the content-library lookup. Its
size does not grow with the lead's history: at most three top signals, one last touch, at most
one risk per kind, and sentences whose only history-dependent part is an aggregate count.

Lead-supplied text (names, titles, URLs, reply text, ticket subjects) is hostile: it is stripped
of control characters, collapsed to one line and truncated; inbound reply text only ever appears
as one short snippet in that signal's `detail`, never in `why_now`, risks or the library query.
Text that tries to instruct the assistant is flagged for the rep as a risk ("contains
instructions aimed at the assistant"), in words of our own, never quoting it.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from agent.models import (
    Asset,
    ContextPackage,
    LeadProfile,
    Qualification,
    RecommendedAction,
    Risk,
    Signal,
    TopSignal,
)
from agent.policy import Policy

if TYPE_CHECKING:
    from tools.content_library import ContentLibrary

log = logging.getLogger(__name__)

MAX_TOP_SIGNALS = 3
REPLY_SNIPPET_CHARS = 140
_URL_CHARS = 120
_SHORT_CHARS = 60
_SUBJECT_CHARS = 80
# Never look at more of one lead-supplied string than this: bounds the work on hostile input.
_SCAN_CHARS = 4000
_WEEK = timedelta(days=7)

_QUOTE_MARKS = str.maketrans("", "", "\"“”„«»`")
_REPLY_HEADER = re.compile(
    r"^(on .{0,200} wrote:?|-{2,}\s*original message\s*-{2,}|from:\s.*|sent from my .*)$",
    re.IGNORECASE,
)
_NO_CONTACT = ("unsubscribed", "no_consent", "suppressed")
_TICKET_OPEN = ("open", "pending", "new", "on-hold", "on_hold")


# --- hostile text ---------------------------------------------------------------------------


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def clean_text(value: object, limit: int) -> str:
    """One line of at most `limit` characters: control and format characters removed."""
    if value is None:
        return ""
    text = str(value)[: max(limit * 4, 64)]
    text = "".join(
        " " if unicodedata.category(ch).startswith(("C", "Z")) else ch for ch in text
    )
    return _truncate(" ".join(text.split()), limit)


def reply_snippet(text: object, limit: int = REPLY_SNIPPET_CHARS) -> str:
    """The start of an inbound reply: quoted history and quote marks dropped, one line."""
    lines: list[str] = []
    for raw in str(text or "")[:_SCAN_CHARS].splitlines():
        line = raw.strip()
        if line.startswith(">"):
            continue
        if _REPLY_HEADER.match(line):
            break
        lines.append(line)
    return clean_text(" ".join(lines).translate(_QUOTE_MARKS), limit)


# --- time -----------------------------------------------------------------------------------


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def relative_time(then: datetime, now: datetime) -> str:
    """ "just now", "12 minutes ago", "2 hours ago", "3 days ago", "5 weeks ago", "4 months ago"."""
    seconds = (_utc(now) - _utc(then)).total_seconds()
    if seconds < 60:
        return "just now"
    minutes = int(seconds // 60)
    if minutes < 60:
        return _plural(minutes, "minute") + " ago"
    hours = minutes // 60
    if hours < 48:
        return _plural(hours, "hour") + " ago"
    days = hours // 24
    if days < 14:
        return _plural(days, "day") + " ago"
    if days < 60:
        return _plural(days // 7, "week") + " ago"
    return _plural(days // 30, "month") + " ago"


def _time_until(then: datetime, now: datetime) -> str:
    days = (_utc(then) - _utc(now)).total_seconds() / 86400
    if days < 1:
        hours = max(1, int(days * 24))
        return "in " + _plural(hours, "hour")
    return "in " + _plural(int(days), "day")


# --- signals --------------------------------------------------------------------------------


@dataclass
class _Group:
    """Every positive-weight signal of one kind (type + label): its best one and counts."""

    label: str
    best: Signal
    best_weight: float
    latest: datetime
    count: int = 0
    count_week: int = 0
    members: list[tuple[float, datetime, str, Signal]] = field(default_factory=list)


def _rank_key(weight: float, at: datetime, event_id: str) -> tuple[float, float, str]:
    # Highest weight first, then most recent, then event id for a total, stable order.
    return (-round(weight, 9), -at.timestamp(), event_id)


def _prop(signal: Signal, key: str, limit: int = _SHORT_CHARS) -> str:
    return clean_text(signal.properties.get(key), limit)


def signal_detail(signal: Signal, label: str, count: int = 1) -> str:
    """One short line saying what happened ("Submitted the demo form (campaign Q4 webinar)")."""
    campaign = _prop(signal, "campaign")
    if signal.type == "form_submit":
        what = f"the {label}" if label != "form submission" else "a form"
        return f"Submitted {what}" + (f" (campaign {campaign})" if campaign else "")
    if signal.type == "page_view":
        url = _prop(signal, "url", _URL_CHARS) or f"a {label}"
        noun = f"{label}s" if label.endswith("view") else f"{label} views"
        return f"Viewed {url}" + (f" ({count} {noun})" if count > 1 else "")
    if signal.type == "email_click":
        url = _prop(signal, "url", _URL_CHARS)
        text = "Clicked " + (url or "a link") + (f" in the {campaign} email" if campaign else "")
        return text + (f" ({count} clicks)" if count > 1 else "")
    if signal.type == "email_open":
        text = f"Opened the {campaign} email" if campaign else "Opened an email"
        return text + (f" ({count} opens)" if count > 1 else "")
    if signal.type == "event_attended":
        name = _prop(signal, "name") or campaign
        return f"Attended {name}" if name else "Attended an event"
    if signal.type == "inbound_reply":
        snippet = reply_snippet(signal.properties.get("text"))
        return f"Replied: {snippet}" if snippet else "Replied to an email"
    if signal.type == "meeting_booked":
        return "Booked a meeting"
    if signal.type == "product_usage":
        metric = _prop(signal, "metric", 40) or "usage"
        change = _number(signal.properties.get("change_pct"))
        return f"Product usage: {metric}" + (f" {change:+.0f}%" if change is not None else "")
    if signal.type == "support_ticket":
        subject = _prop(signal, "subject", _SUBJECT_CHARS)
        status = _prop(signal, "status", 20)
        text = "Support ticket" + (f" ({status})" if status else "")
        return text + (f": {subject}" if subject else "")
    if signal.type == "unsubscribe":
        return "Unsubscribed from email"
    if signal.type == "consent":
        opt_in = _bool(signal.properties.get("email_opt_in"))
        if opt_in is None:
            return "Consent updated"
        return "Opted in to email" if opt_in else "Withdrew email consent"
    return clean_text(signal.type.replace("_", " ").capitalize(), _SHORT_CHARS)


def _number(value: Any) -> float | None:
    try:
        return float(str(value).strip().rstrip("%")) if value is not None else None
    except ValueError:
        return None


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "1", "false", "no", "0"):
        return value.strip().lower() in ("true", "yes", "1")
    if isinstance(value, int | float):
        return bool(value)
    return None


def _top_signal(signal: Signal, weight: float, label: str, count: int = 1) -> TopSignal:
    return TopSignal(
        event_id=signal.event_id,
        type=signal.type,
        occurred_at=signal.occurred_at,
        detail=signal_detail(signal, label, count),
        weight=round(weight, 3),
    )


def _groups(signals: Sequence[Signal], now: datetime, policy: Policy) -> list[_Group]:
    from agent.qualification import signal_label, signal_weight

    groups: dict[tuple[str, str], _Group] = {}
    for signal in signals:
        weight = signal_weight(signal, now, policy)
        if weight <= 0:
            continue
        label = signal_label(signal, policy)
        at = _utc(signal.occurred_at)
        key = (signal.type, label)
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(label=label, best=signal, best_weight=weight, latest=at)
        elif _rank_key(weight, at, signal.event_id) < _rank_key(
            group.best_weight, _utc(group.best.occurred_at), group.best.event_id
        ):
            group.best, group.best_weight = signal, weight
        group.latest = max(group.latest, at)
        group.count += 1
        if now - at <= _WEEK:
            group.count_week += 1
        group.members.append((weight, at, signal.event_id, signal))
    ordered = list(groups.values())
    ordered.sort(key=lambda g: _rank_key(g.best_weight, _utc(g.best.occurred_at), g.best.event_id))
    return ordered


def _pick_top(groups: list[_Group]) -> list[tuple[Signal, float, _Group]]:
    """The best signal of each of the strongest kinds; repeats of a kind only to fill up."""
    picked = [(g.best, g.best_weight, g) for g in groups[:MAX_TOP_SIGNALS]]
    if len(picked) < MAX_TOP_SIGNALS:
        chosen = {s.event_id for s, _, _ in picked}
        rest = [
            (weight, at, event_id, signal, group)
            for group in groups
            for weight, at, event_id, signal in group.members
            if event_id not in chosen
        ]
        rest.sort(key=lambda r: _rank_key(r[0], r[1], r[2]))
        picked += [(r[3], r[0], r[4]) for r in rest[: MAX_TOP_SIGNALS - len(picked)]]
    picked.sort(key=lambda p: _rank_key(p[1], _utc(p[0].occurred_at), p[0].event_id))
    return picked


# --- attribution ----------------------------------------------------------------------------


def _attribution(
    ordered: Sequence[Signal], key: str, now: datetime, policy: Policy
) -> str | None:
    """`key` from the most recent event in the scoring window that carries it; else first touch."""
    window = timedelta(days=policy.scoring.window_days)
    for signal in reversed(ordered):
        if now - _utc(signal.occurred_at) > window:
            break
        value = _prop(signal, key)
        if value:
            return value
    for signal in ordered:
        value = _prop(signal, key)
        if value:
            return value
    return None


# --- risks ----------------------------------------------------------------------------------


def _domain_of(value: str | None) -> str:
    text = (value or "").strip().lower()
    return text.rsplit("@", 1)[-1].rstrip(".")


def _competitor_word(text: object, words: Sequence[str]) -> str | None:
    lowered = " ".join(str(text or "")[:_SCAN_CHARS].lower().split())
    for word in words:
        if re.search(rf"(?<![a-z0-9]){re.escape(word.lower())}(?![a-z0-9])", lowered):
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
    from agent.guardrails import assistant_instructions

    seen: dict[str, bool] = {}

    def aimed(value: object, *, budgeted: bool = True) -> bool:
        text = str(value or "")[:_INSTRUCTION_SCAN_CHARS]
        if text not in seen:
            if budgeted and len(seen) >= _INSTRUCTION_SCAN_TEXTS:
                return False
            seen[text] = bool(text.strip()) and bool(assistant_instructions(text))
        return seen[text]

    for signal in reversed(ordered):
        if now - _utc(signal.occurred_at) > window:
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


def find_risks(
    lead: LeadProfile,
    ordered: Sequence[Signal],
    now: datetime,
    policy: Policy,
    *,
    unsubscribed: bool = False,
    consent: bool | None = None,
    suppressed_until: datetime | None = None,
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
        age = now - _utc(signal.occurred_at)
        if signal.type == "support_ticket":
            props = signal.properties
            ticket = clean_text(props.get("ticket_id") or props.get("subject") or "", 80).lower()
            status = clean_text(props.get("status"), 20).lower()
            if status:
                ticket_status[ticket] = (signal, status)
            sentiment = _number(props.get("sentiment"))
            if (sentiment is not None and sentiment <= rules.negative_ticket_sentiment
                    and age <= ticket_window):
                negative = (signal, sentiment)
        elif signal.type == "unsubscribe":
            last_unsubscribe = signal
        elif signal.type == "consent":
            opt_in = _bool(signal.properties.get("email_opt_in"))
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
        and _utc(last_consent[0].occurred_at) > _utc(last_unsubscribe.occurred_at)
    )
    if unsubscribed:
        risks.append(Risk(
            code="unsubscribed", detail="Unsubscribed from email: do not email",
            event_id=last_unsubscribe.event_id if last_unsubscribe else None,
        ))
    elif (last_unsubscribe is not None and not resubscribed
          and now - _utc(last_unsubscribe.occurred_at) <= unsubscribe_window):
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

    if suppressed_until is not None and _utc(suppressed_until) > now:
        until = _utc(suppressed_until)
        risks.append(Risk(
            code="suppressed",
            detail=f"Suppressed until {until:%Y-%m-%d %H:%M} UTC ({_time_until(until, now)})",
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
        subject = _prop(signal, "subject", _SUBJECT_CHARS)
        risks.append(Risk(
            code="negative_ticket",
            detail=(f"Negative support ticket {relative_time(signal.occurred_at, now)} "
                    f"(sentiment {sentiment:+.1f})" + (f": {subject}" if subject else "")),
            event_id=signal.event_id,
        ))

    still_open = [(s, st) for s, st in ticket_status.values() if st in _TICKET_OPEN]
    if still_open:
        signal, status = max(still_open, key=lambda p: (_utc(p[0].occurred_at), p[0].event_id))
        subject = _prop(signal, "subject", _SUBJECT_CHARS)
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


# --- recommendation -------------------------------------------------------------------------

_ANGLES = {
    "pricing page": "Pricing interest: offer a short walkthrough of the plan that fits their team",
    "pricing form": "Pricing request: give a clear starting point and offer a walkthrough",
    "demo form": "Demo request: confirm what they want to see and propose two times",
    "demo page": "Demo interest: offer a short demo tailored to their use case",
    "contact form": "Asked to be contacted: answer promptly and ask what prompted it",
    "trial form": "Trial started: help them reach first value quickly",
    "comparison page": "Evaluating options: ask what they are comparing and focus on what matters",
    "integration page": "Integrations: confirm their stack and show the relevant integration",
    "case study": "Proof: share results from a similar company in their industry",
    "inbound reply": "They replied: answer their message directly before anything else",
    "meeting booked": "Meeting booked: confirm it and send a short agenda",
    "event attended": "Event follow-up: build on the session they attended",
    "email click": "Content follow-up: build on what they read",
    "email open": "Light touch: offer one useful resource",
    "product usage up": "Usage is growing: offer help scaling the rollout",
    "content form": "Content download: offer a related resource and a short conversation",
    "newsletter form": "Newsletter sign-up: keep it light and offer one relevant resource",
    "page view": "Website visits: ask what they are working on",
}
_DEFAULT_ANGLE = "Check in with a note tied to their industry and role"
_TALK_TRACK_LABELS = ("pricing", "demo", "comparison", "integration", "contact")


def _next_step(
    qualification: Qualification, hand_raise: Signal | None, hand_raise_label: str,
    risk_codes: set[str],
) -> str:
    blocked = [code for code in _NO_CONTACT if code in risk_codes]
    if blocked:
        reasons = ", ".join(code.replace("_", " ") for code in blocked)
        return (f"Do not email ({reasons}); note the signal for the owner and wait for the "
                "lead to reach out")
    route = qualification.route
    if route == "disqualified":
        codes = ", ".join(d.code.replace("_", " ") for d in qualification.disqualifiers)
        return "Do not contact; close as disqualified" + (f" ({codes})" if codes else "")
    if route == "hand_raise":
        if hand_raise is not None and hand_raise.type == "meeting_booked":
            step = "Confirm the booked meeting within the SLA and send a short agenda"
        elif hand_raise is not None and hand_raise.type == "inbound_reply":
            step = "Answer their reply within the SLA and offer two meeting times"
        elif hand_raise_label == "demo form":
            step = "Reply within the SLA, confirm the demo and offer two meeting times"
        elif hand_raise_label == "pricing form":
            step = "Reply within the SLA with pricing context and offer two meeting times"
        else:
            step = "Reply within the SLA and offer two meeting times"
    elif route == "strategic":
        step = ("Account owner: send a personal note today that ties the signal to the "
                "account plan")
    elif route == "band_a":
        step = "Send a tailored follow-up within one business day and propose a discovery call"
    else:
        step = "No rep outreach: keep in nurture and watch for a hand-raise"
    if {"negative_ticket", "open_ticket"} & risk_codes:
        step = "Check the open support issue with the support owner first, then " + (
            step[0].lower() + step[1:]
        )
    return step


def _asset_query(
    qualification: Qualification, labels: list[str], industry: str, risk_codes: set[str]
) -> tuple[str, str] | None:
    """(query, kind) for the library, from our own labels, the industry and the risks."""
    if qualification.route == "disqualified":
        return None
    words = list(labels)
    if "competitor" in risk_codes or "comparison page" in labels:
        kind = "talk_track"
        words += ["competitor", "switching", "alternative", "comparison"]
    elif {"negative_ticket", "open_ticket"} & risk_codes:
        kind = "playbook"
        words += ["support ticket", "open issue", "negative sentiment"]
    elif qualification.route == "strategic":
        kind = "playbook"
        words += ["strategic account", "named account"]
    elif qualification.route == "nurture":
        kind = "playbook"
        words += ["re-engagement", "nurture"]
    elif any(word in label for label in labels for word in _TALK_TRACK_LABELS):
        kind = "talk_track"
    else:
        kind = "case_study"
        words += ["case study"]
    if industry:
        words.append(industry)
    query = " ".join(dict.fromkeys(w for w in words if w))
    return (query, kind) if query else None


def _recommend(library: ContentLibrary | None, query: tuple[str, str] | None) -> Asset | None:
    if library is None or query is None:
        return None
    try:
        found = library.recommend(query[0], kind=query[1], k=1)
    except Exception:  # a missing asset must never stop a handoff
        log.warning("content library lookup failed; continuing without an asset", exc_info=True)
        return None
    return found[0] if found else None


# --- why now --------------------------------------------------------------------------------


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
    name = clean_text(lead.name, _SHORT_CHARS) or "This lead"
    about = [p for p in (clean_text(lead.title, _SHORT_CHARS),
                         clean_text(lead.company, _SHORT_CHARS)) if p]
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


def _why_now(
    lead: LeadProfile,
    qualification: Qualification,
    picked: list[tuple[Signal, float, _Group]],
    last_touch: TopSignal | None,
    now: datetime,
) -> str:
    person = _person(lead)
    if not picked:
        first = f"{person} has no recent buying signals"
        if last_touch is not None:
            first += f"; last activity {relative_time(last_touch.occurred_at, now)}"
        return f"{first}. {_standing(qualification)}"

    seen: set[tuple[str, str]] = set()
    kinds: list[tuple[Signal, _Group]] = []
    for signal, _, group in picked:
        if (signal.type, group.label) not in seen:
            seen.add((signal.type, group.label))
            kinds.append((signal, group))

    lead_signal, lead_group = kinds[0]
    past, _ = _phrase(lead_signal.type, lead_group.label)
    when = relative_time(lead_signal.occurred_at, now)
    if lead_group.count_week > 1 and now - lead_group.latest <= _WEEK:
        sentence = f"{person} {past} {_times(lead_group.count_week)} this week, latest {when}"
    else:
        sentence = f"{person} {past} {when}"

    before: list[str] = []
    after: list[str] = []
    for signal, group in kinds[1:]:
        past_2, gerund = _phrase(signal.type, group.label)
        if group.count_week > 1 and now - group.latest <= _WEEK:
            timing = f"{_times(group.count_week)} this week"
        else:
            timing = relative_time(group.latest, now)
        if group.latest > _utc(lead_signal.occurred_at):
            after.append(f"{past_2} {timing}")
        else:
            before.append(f"{gerund} {timing}")
    if before:
        sentence += ", after " + " and ".join(before)
    if after:
        sentence += ", then " + " and ".join(after)
    return f"{sentence}. {_standing(qualification)}"


# --- the package ----------------------------------------------------------------------------


def build_context_package(
    lead: LeadProfile,
    qualification: Qualification,
    signals: Sequence[Signal],
    now: datetime,
    policy: Policy,
    library: ContentLibrary | None = None,
    *,
    unsubscribed: bool = False,
    consent: bool | None = None,
    suppressed_until: datetime | None = None,
) -> ContextPackage:
    """The "why now" package for `lead` at `now`: bounded in size whatever the history length.

    `unsubscribed`, `consent` and `suppressed_until` are the lead's stored flags (the history's
    own unsubscribe/consent events count too). `library` is asked for one asset; without it, or
    when it fails, the recommendation has none.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("`now` must be a timezone-aware datetime")
    now = now.astimezone(UTC)
    from agent.qualification import signal_label, signal_weight

    ordered = sorted(signals, key=lambda s: (_utc(s.occurred_at), s.event_id))
    groups = _groups(ordered, now, policy)
    picked = _pick_top(groups)
    top_signals = [_top_signal(s, w, g.label, g.count) for s, w, g in picked]

    last_touch: TopSignal | None = None
    if ordered:
        last = ordered[-1]
        last_touch = _top_signal(last, signal_weight(last, now, policy),
                                 signal_label(last, policy))

    risks = find_risks(lead, ordered, now, policy, unsubscribed=unsubscribed, consent=consent,
                       suppressed_until=suppressed_until)
    risk_codes: set[str] = {r.code for r in risks}

    hand_raise = None
    if qualification.hand_raise_event_id is not None:
        hand_raise = next(
            (s for s in ordered if s.event_id == qualification.hand_raise_event_id), None
        )
    hand_raise_label = signal_label(hand_raise, policy) if hand_raise is not None else ""
    labels = [g.label for _, _, g in picked]
    angle_label = labels[0] if labels else ""
    action = RecommendedAction(
        next_step=_next_step(qualification, hand_raise, hand_raise_label, risk_codes),
        message_angle=_ANGLES.get(angle_label, _DEFAULT_ANGLE),
        asset=_recommend(
            library,
            _asset_query(qualification, list(dict.fromkeys(labels)),
                         clean_text(lead.industry, 40), risk_codes),
        ),
    )

    return ContextPackage(
        lead_id=lead.lead_id,
        why_now=_why_now(lead, qualification, picked, last_touch, now),
        top_signals=top_signals,
        last_touch=last_touch,
        source=_attribution(ordered, "source", now, policy),
        campaign=_attribution(ordered, "campaign", now, policy),
        fit=qualification.fit,
        band=qualification.band,
        score=qualification.score,
        route=qualification.route,
        recommended_action=action,
        risks=risks,
        policy_version=qualification.policy_version,
    )
