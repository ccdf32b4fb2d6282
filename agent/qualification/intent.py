"""Buying intent from the lead's signals: weights from the policy, halved every half-life, and
the hand-raise and "rising engagement" tests. `now` is always passed in, timezone-aware."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from agent.language import canonical_form, fold_pattern, fold_url
from agent.models import Signal
from agent.policy import PageRule, Policy

# Senders' clocks drift; an event stamped a little in the future is treated as "just now",
# one far in the future is a bad timestamp and carries no weight.
CLOCK_SKEW = timedelta(minutes=5)

# Events that are never buying intent, whatever weight a policy file gives them: opting out,
# consent bookkeeping and support tickets describe the relationship, not a wish to buy.
ZERO_INTENT_TYPES = frozenset({"unsubscribe", "consent", "support_ticket"})

_EVENT_LABELS = {
    "page_view": "page view",
    "email_open": "email open",
    "email_click": "email click",
    "form_submit": "form",
    "event_attended": "event attended",
    "inbound_reply": "inbound reply",
    "meeting_booked": "meeting booked",
    "product_usage": "product usage",
    "support_ticket": "support ticket",
    "unsubscribe": "unsubscribe",
    "consent": "consent change",
}


def as_utc(at: datetime) -> datetime:
    """The same instant in UTC.

    Stored timestamps are UTC; a naive one can only be a storage artefact, so read it as UTC.
    """
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def require_aware(now: datetime) -> datetime:
    """`now` in UTC; a naive `now` is a caller's bug and is refused (ValueError)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("`now` must be a timezone-aware datetime")
    return now.astimezone(UTC)


def _form(signal: Signal, policy: Policy) -> str:
    """The form's canonical name, whatever language it was named in ("Demo-Anfrage" -> demo)."""
    return canonical_form(str(signal.properties.get("form") or ""), policy)


def _change_pct(signal: Signal) -> float:
    raw = signal.properties.get("change_pct")
    try:
        return float(str(raw).strip().rstrip("%")) if raw is not None else 0.0
    except ValueError:
        return 0.0


# Each policy's page-rule patterns, folded, by the identity of its rules list (a Policy is
# frozen; the list is kept with them, so its id cannot be reused while the entry lives). Read
# for every page view, up to three times a qualification.
_FOLDED_PATTERNS: dict[int, tuple[object, tuple[str, ...]]] = {}


def _folded_patterns(rules: list[PageRule]) -> tuple[str, ...]:
    cached = _FOLDED_PATTERNS.get(id(rules))
    if cached is not None and cached[0] is rules:
        return cached[1]
    patterns = tuple(fold_pattern(rule.pattern) for rule in rules)
    if len(_FOLDED_PATTERNS) > 64:
        _FOLDED_PATTERNS.clear()
    _FOLDED_PATTERNS[id(rules)] = (rules, patterns)
    return patterns


def _page_rule_index(signal: Signal, policy: Policy) -> int | None:
    url = fold_url(str(signal.properties.get("url") or ""))
    if not url:
        return None
    return next((i for i, pattern in enumerate(_folded_patterns(policy.scoring.page_rules))
                 if pattern in url), None)


def base_weight(signal: Signal, policy: Policy) -> float:
    """The undecayed intent weight of one signal under the policy."""
    scoring = policy.scoring
    if signal.type in ZERO_INTENT_TYPES:
        return 0.0
    if signal.type == "form_submit":
        form = _form(signal, policy)
        return float(scoring.form_weights.get(form, scoring.event_weights.get("form_submit", 0.0)))
    if signal.type == "page_view":
        # The first matching rule wins, so the policy orders rules from most to least telling.
        index = _page_rule_index(signal, policy)
        if index is not None:
            return float(scoring.page_rules[index].weight)
        return float(scoring.event_weights.get("page_view", 0.0))
    if signal.type == "product_usage" and _change_pct(signal) <= 0:
        # Flat or falling usage is not a reason to call anyone.
        return 0.0
    return float(scoring.event_weights.get(signal.type, 0.0))


def _age(signal: Signal, now: datetime) -> timedelta | None:
    """How old a signal is at `now`, or None when it is a bad future timestamp."""
    age = now - as_utc(signal.occurred_at)
    if age < -CLOCK_SKEW:
        return None
    return max(age, timedelta(0))


def signal_weight(signal: Signal, now: datetime, policy: Policy) -> float:
    """The intent weight of one signal at `now`: base weight halved every half-life.

    Zero outside the scoring window or when stamped further in the future than the clock skew.
    """
    now = require_aware(now)
    age = _age(signal, now)
    scoring = policy.scoring
    if age is None or age > timedelta(days=scoring.window_days):
        return 0.0
    weight = base_weight(signal, policy)
    if weight == 0.0:
        return 0.0
    return weight * 0.5 ** ((age / timedelta(days=1)) / scoring.half_life_days)


def intent(signals: Iterable[Signal], now: datetime, policy: Policy) -> float:
    """Buying intent at `now`: the sum of the signals' decayed weights (uncapped)."""
    return sum((signal_weight(s, now, policy) for s in signals), 0.0)


def signal_label(signal: Signal, policy: Policy) -> str:
    """A short human name for a signal ("pricing page", "demo form", "inbound reply").

    Built only from the event type, the policy's own labels and known form names, never from
    lead-supplied text, so it is safe in prompts and Slack cards.
    """
    if signal.type == "page_view":
        index = _page_rule_index(signal, policy)
        return policy.scoring.page_rules[index].label if index is not None else "page view"
    if signal.type == "form_submit":
        form = _form(signal, policy)
        known = form in policy.scoring.form_weights or form in policy.routing.hand_raise_forms
        return f"{form} form" if known else "form submission"
    if signal.type == "product_usage":
        return "product usage up" if _change_pct(signal) > 0 else "product usage"
    return _EVENT_LABELS.get(signal.type, signal.type.replace("_", " "))


def is_rising(signals: Iterable[Signal], now: datetime, policy: Policy) -> bool:
    """Engagement is rising: the last `rising_window_days` outweigh the same span before them.

    Undecayed weights, so the comparison measures activity rather than the decay curve.
    """
    now = require_aware(now)
    span = timedelta(days=policy.routing.rising_window_days)
    recent = previous = 0.0
    for signal in signals:
        age = _age(signal, now)
        if age is None:
            continue
        if age < span:
            recent += base_weight(signal, policy)
        elif age < 2 * span:
            previous += base_weight(signal, policy)
    return recent > 0 and recent > previous


def high_intent_visits(signals: Iterable[Signal], now: datetime, policy: Policy) -> int:
    """How many separate visits to high-intent pages (the policy's `high_intent_pages` labels:
    pricing, demo, comparison, integration) the lead made in the last `repeated_visits_days`.

    Page views less than `visit_gap_minutes` after the previous one belong to the same visit,
    as a web-analytics session does: reloading the pricing page is not coming back to it.
    """
    now = require_aware(now)
    routing = policy.routing
    labels = {label.casefold() for label in routing.high_intent_pages}
    span = timedelta(days=routing.repeated_visits_days)
    gap = timedelta(minutes=routing.visit_gap_minutes)
    times = sorted(
        as_utc(s.occurred_at) for s in signals
        if s.type == "page_view" and signal_label(s, policy).casefold() in labels
        and (age := _age(s, now)) is not None and age < span
    )
    visits = 0
    previous: datetime | None = None
    for at in times:
        if previous is None or at - previous >= gap:
            visits += 1
        previous = at
    return visits


def is_hand_raise(signal: Signal, policy: Policy) -> bool:
    """A signal in which the person asks for contact (demo/contact/pricing form, reply, meeting)."""
    routing = policy.routing
    if signal.type == "form_submit":
        return _form(signal, policy) in {f.lower() for f in routing.hand_raise_forms}
    return signal.type in routing.hand_raise_events


def latest_hand_raise(signals: Iterable[Signal], now: datetime, policy: Policy) -> Signal | None:
    """The most recent hand-raise no older than `hand_raise_window_hours`, if any."""
    now = require_aware(now)
    window = timedelta(hours=policy.routing.hand_raise_window_hours)
    latest: Signal | None = None
    for signal in signals:
        age = _age(signal, now)
        if age is None or age > window or not is_hand_raise(signal, policy):
            continue
        if latest is None or as_utc(signal.occurred_at) >= as_utc(latest.occurred_at):
            latest = signal
    return latest
