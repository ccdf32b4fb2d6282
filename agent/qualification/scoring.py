"""The verdict on a lead: score, band (`band_for`) and route (the seeds' transition matrix)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from agent.models import Band, LeadProfile, Qualification, Signal
from agent.policy import Policy, Route, TargetAccount
from agent.qualification.disqualifiers import disqualifiers
from agent.qualification.domains import lead_domains, within_domain
from agent.qualification.fit import fit
from agent.qualification.intent import intent, is_rising, latest_hand_raise, require_aware


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


def qualify(lead: LeadProfile, signals: Sequence[Signal], now: datetime,
            policy: Policy) -> Qualification:
    """The policy's verdict on a lead at `now`: score, band and route.

    Route precedence (the transition matrix): disqualified -> a hand-raise within the window ->
    a target account showing any engagement -> band A with ICP fit and rising engagement ->
    nurture (automated, no human).
    """
    now = require_aware(now)
    signals = list(signals)
    found_disqualifiers = disqualifiers(lead, policy)
    lead_fit = fit(lead, policy)
    lead_intent = intent(signals, now, policy)
    rising = is_rising(signals, now, policy)
    hand_raise = latest_hand_raise(signals, now, policy)
    account = target_account(lead, policy)

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
    elif band == "A" and lead_fit.in_icp and rising:
        route = "band_a"
    else:
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
