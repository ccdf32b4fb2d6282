"""The package's signals: grouped by kind, ranked, the top few described in one line each, and
where the lead came from (source and campaign attribution)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from agent.context.sanitize import SHORT_CHARS, SUBJECT_CHARS, URL_CHARS, clean_text, reply_snippet
from agent.context.timing import utc
from agent.models import Signal, TopSignal
from agent.policy import Policy
from agent.qualification.intent import signal_label, signal_weight

MAX_TOP_SIGNALS = 3
WEEK = timedelta(days=7)


@dataclass
class SignalGroup:
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


def prop(signal: Signal, key: str, limit: int = SHORT_CHARS) -> str:
    """A signal property as clean, bounded text ("" when absent)."""
    return clean_text(signal.properties.get(key), limit)


def signal_detail(signal: Signal, label: str, count: int = 1) -> str:
    """One short line saying what happened ("Submitted the demo form (campaign Q4 webinar)")."""
    campaign = prop(signal, "campaign")
    if signal.type == "form_submit":
        what = f"the {label}" if label != "form submission" else "a form"
        return f"Submitted {what}" + (f" (campaign {campaign})" if campaign else "")
    if signal.type == "page_view":
        url = prop(signal, "url", URL_CHARS) or f"a {label}"
        noun = f"{label}s" if label.endswith("view") else f"{label} views"
        return f"Viewed {url}" + (f" ({count} {noun})" if count > 1 else "")
    if signal.type == "email_click":
        url = prop(signal, "url", URL_CHARS)
        text = "Clicked " + (url or "a link") + (f" in the {campaign} email" if campaign else "")
        return text + (f" ({count} clicks)" if count > 1 else "")
    if signal.type == "email_open":
        text = f"Opened the {campaign} email" if campaign else "Opened an email"
        return text + (f" ({count} opens)" if count > 1 else "")
    if signal.type == "event_attended":
        name = prop(signal, "name") or campaign
        return f"Attended {name}" if name else "Attended an event"
    if signal.type == "inbound_reply":
        snippet = reply_snippet(signal.properties.get("text"))
        return f"Replied: {snippet}" if snippet else "Replied to an email"
    if signal.type == "meeting_booked":
        return "Booked a meeting"
    if signal.type == "product_usage":
        metric = prop(signal, "metric", 40) or "usage"
        change = as_number(signal.properties.get("change_pct"))
        return f"Product usage: {metric}" + (f" {change:+.0f}%" if change is not None else "")
    if signal.type == "support_ticket":
        subject = prop(signal, "subject", SUBJECT_CHARS)
        status = prop(signal, "status", 20)
        text = "Support ticket" + (f" ({status})" if status else "")
        return text + (f": {subject}" if subject else "")
    if signal.type == "unsubscribe":
        return "Unsubscribed from email"
    if signal.type == "consent":
        opt_in = as_bool(signal.properties.get("email_opt_in"))
        if opt_in is None:
            return "Consent updated"
        return "Opted in to email" if opt_in else "Withdrew email consent"
    return clean_text(signal.type.replace("_", " ").capitalize(), SHORT_CHARS)


def as_number(value: Any) -> float | None:
    """A number from a property ("12", "12%", 12.0), or None when it is not one."""
    try:
        return float(str(value).strip().rstrip("%")) if value is not None else None
    except ValueError:
        return None


def as_bool(value: Any) -> bool | None:
    """A yes/no from a property (bool, "yes"/"no", "true"/"false", 1/0), or None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "1", "false", "no", "0"):
        return value.strip().lower() in ("true", "yes", "1")
    if isinstance(value, int | float):
        return bool(value)
    return None


def top_signal(signal: Signal, weight: float, label: str, count: int = 1) -> TopSignal:
    """The package's view of one signal: its weight and a one-line detail."""
    return TopSignal(
        event_id=signal.event_id,
        type=signal.type,
        occurred_at=signal.occurred_at,
        detail=signal_detail(signal, label, count),
        weight=round(weight, 3),
    )


def group_signals(signals: Sequence[Signal], now: datetime, policy: Policy) -> list[SignalGroup]:
    """Positive-weight signals grouped by kind, strongest group first (a total, stable order)."""
    groups: dict[tuple[str, str], SignalGroup] = {}
    for signal in signals:
        weight = signal_weight(signal, now, policy)
        if weight <= 0:
            continue
        label = signal_label(signal, policy)
        at = utc(signal.occurred_at)
        key = (signal.type, label)
        group = groups.get(key)
        if group is None:
            group = groups[key] = SignalGroup(label=label, best=signal, best_weight=weight,
                                              latest=at)
        elif _rank_key(weight, at, signal.event_id) < _rank_key(
            group.best_weight, utc(group.best.occurred_at), group.best.event_id
        ):
            group.best, group.best_weight = signal, weight
        group.latest = max(group.latest, at)
        group.count += 1
        if now - at <= WEEK:
            group.count_week += 1
        group.members.append((weight, at, signal.event_id, signal))
    ordered = list(groups.values())
    ordered.sort(key=lambda g: _rank_key(g.best_weight, utc(g.best.occurred_at), g.best.event_id))
    return ordered


def pick_top(groups: list[SignalGroup]) -> list[tuple[Signal, float, SignalGroup]]:
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
    picked.sort(key=lambda p: _rank_key(p[1], utc(p[0].occurred_at), p[0].event_id))
    return picked


# --- attribution ----------------------------------------------------------------------------


def attribution(
    ordered: Sequence[Signal], key: str, now: datetime, policy: Policy
) -> str | None:
    """`key` from the most recent event in the scoring window that carries it; else first touch."""
    window = timedelta(days=policy.scoring.window_days)
    for signal in reversed(ordered):
        if now - utc(signal.occurred_at) > window:
            break
        value = prop(signal, key)
        if value:
            return value
    for signal in ordered:
        value = prop(signal, key)
        if value:
            return value
    return None
