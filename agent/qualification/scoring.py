"""The verdict on a lead: score, band (`band_for`) and route (the seeds' transition matrix)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from agent.models import Band, LeadProfile, Qualification, Signal
from agent.policy import Policy, Route, TargetAccount
from agent.qualification.disqualifiers import disqualifiers
from agent.qualification.domains import lead_domains, within_domain
from agent.qualification.fit import fit
from agent.qualification.intent import (
    as_utc,
    high_intent_visits,
    intent,
    is_rising,
    latest_hand_raise,
    require_aware,
)


def target_account(lead: LeadProfile, policy: Policy) -> TargetAccount | None:
    """The policy's named account this lead belongs to (email or company domain), if any."""
    domains = lead_domains(lead)
    for account in policy.routing.target_accounts:
        if any(within_domain(domain, account.domain) for domain in domains):
            return account
    return None


def band_for(score: float, policy: Policy) -> Band:
    """A, B or C from the policy's thresholds (each threshold belongs to the higher band)."""
    if score >= policy.bands.A:
        return "A"
    if score >= policy.bands.B:
        return "B"
    return "C"


def held_by_suppression(route: Route, now: datetime, policy: Policy, *,
                        suppressed_until: datetime | None, suppression_reason: str | None
                        ) -> bool:
    """Whether a recycle's suppression window keeps this route with automation.

    The seeds' recycling rule: back to nurture "with a suppression window to avoid immediate
    re-handoff" ("not now": 30-90 days). Band A, repeated visits and a target account's activity
    wait for the window to end; the lead's own hand-raise gets through when the reason code's
    disposition says so (`hand_raise_overrides`).
    """
    if suppressed_until is None or as_utc(suppressed_until) <= now:
        return False
    if route in ("band_a", "strategic"):
        return True
    if route == "hand_raise":
        rule = policy.dispositions.get(suppression_reason) if suppression_reason else None  # type: ignore[call-overload]
        return rule is None or not rule.hand_raise_overrides
    return False


def qualify(lead: LeadProfile, signals: Sequence[Signal], now: datetime,
            policy: Policy, *, suppressed_until: datetime | None = None,
            suppression_reason: str | None = None) -> Qualification:
    """The policy's verdict on a lead at `now`: score, band and route.

    Route precedence (the seeds' transition matrix): disqualified -> a hand-raise within the
    window (manual outreach in minutes) -> a target account showing any engagement (same day)
    -> ICP fit with rising engagement that is band A, or repeated high-intent visits (light
    human assist within a business day) -> nurture (automated, no human). A lead inside a
    recycle's suppression window stays in nurture unless its own hand-raise may override it.
    """
    now = require_aware(now)
    signals = list(signals)
    found_disqualifiers = disqualifiers(lead, policy)
    lead_fit = fit(lead, policy)
    lead_intent = intent(signals, now, policy)
    rising = is_rising(signals, now, policy)
    hand_raise = latest_hand_raise(signals, now, policy)
    account = target_account(lead, policy)
    repeated = high_intent_visits(signals, now, policy) >= policy.routing.repeated_visits

    share = policy.scoring.fit_share
    score = round(share * lead_fit.score
                  + (1 - share) * min(lead_intent, policy.scoring.intent_cap), 1)
    band: Band = "disqualified" if found_disqualifiers else band_for(score, policy)

    route: Route
    if found_disqualifiers:
        route = "disqualified"
    elif hand_raise is not None:
        route = "hand_raise"
    elif account is not None and lead_intent > 0:
        route = "strategic"
    elif lead_fit.in_icp and ((band == "A" and rising) or repeated):
        route = "band_a"
    else:
        route = "nurture"
    if held_by_suppression(route, now, policy, suppressed_until=suppressed_until,
                           suppression_reason=suppression_reason):
        route = "nurture"

    return Qualification(
        score=score,
        band=band,
        fit=lead_fit,
        intent=round(lead_intent, 2),
        rising=rising,
        disqualifiers=found_disqualifiers,
        route=route,
        hand_raise_event_id=hand_raise.event_id if hand_raise is not None else None,
        # A named account keeps its owner whatever brought the lead in (a hand-raise included).
        strategic_owner=account.owner if account is not None and not found_disqualifiers
        else None,
        policy_version=policy.version,
    )
