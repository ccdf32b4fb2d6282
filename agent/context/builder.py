"""`build_context_package`: the parts of the package put together for one lead at one time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from agent.context.recommend import ANGLES, DEFAULT_ANGLE, asset_query, next_step, recommend
from agent.context.risks import find_risks
from agent.context.sanitize import clean_text
from agent.context.signals import attribution, group_signals, pick_top, top_signal
from agent.context.timing import utc
from agent.context.why_now import why_now
from agent.models import (
    ContextPackage,
    LeadProfile,
    Qualification,
    RecommendedAction,
    Signal,
    TopSignal,
)
from agent.policy import Policy
from agent.qualification.intent import signal_label, signal_weight

if TYPE_CHECKING:
    from tools.content_library import ContentLibrary


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
    suppression_reason: str | None = None,
) -> ContextPackage:
    """The "why now" package for `lead` at `now`: bounded in size whatever the history length.

    `unsubscribed`, `consent` and `suppressed_until` are the lead's stored flags (the history's
    own unsubscribe/consent events count too). `library` is asked for one asset; without it, or
    when it fails, the recommendation has none.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("`now` must be a timezone-aware datetime")
    now = now.astimezone(UTC)
    ordered = sorted(signals, key=lambda s: (utc(s.occurred_at), s.event_id))
    groups = group_signals(ordered, now, policy)
    picked = pick_top(groups)
    top_signals = [top_signal(s, w, g.label, g.count) for s, w, g in picked]

    last_touch: TopSignal | None = None
    if ordered:
        last = ordered[-1]
        last_touch = top_signal(last, signal_weight(last, now, policy),
                                 signal_label(last, policy))

    risks = find_risks(lead, ordered, now, policy, unsubscribed=unsubscribed, consent=consent,
                       suppressed_until=suppressed_until,
                       suppression_reason=suppression_reason)
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
        next_step=next_step(qualification, hand_raise, hand_raise_label, risk_codes),
        message_angle=ANGLES.get(angle_label, DEFAULT_ANGLE),
        asset=recommend(
            library,
            asset_query(qualification, list(dict.fromkeys(labels)),
                         clean_text(lead.industry, 40), risk_codes),
        ),
    )

    return ContextPackage(
        lead_id=lead.lead_id,
        why_now=why_now(lead, qualification, picked, last_touch, now),
        top_signals=top_signals,
        last_touch=last_touch,
        source=attribution(ordered, "source", now, policy),
        campaign=attribution(ordered, "campaign", now, policy),
        fit=qualification.fit,
        band=qualification.band,
        score=qualification.score,
        route=qualification.route,
        recommended_action=action,
        risks=risks,
        policy_version=qualification.policy_version,
    )
