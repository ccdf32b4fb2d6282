"""Firmographic fit: how closely the company and the person match the policy's ICP."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from agent.models import Fit, LeadProfile
from agent.policy import Policy
from agent.qualification.domains import normalize_domain
from agent.qualification.titles import senior_word, title_label


@lru_cache(maxsize=64)
def _folded_set(values: tuple[str, ...], fold: Callable[[str], str]) -> frozenset[str]:
    """A policy list as a set for membership tests, built once per list (and way of folding)."""
    return frozenset(fold(v) for v in values)


def fit(lead: LeadProfile, policy: Policy) -> Fit:
    """Firmographic fit, 0..100, from the policy's ICP points, with short reasons.

    Segment (by employee count), industry (case-insensitive), country and a senior title each add
    their points; a free-mail address takes points away. `in_icp` needs both an ICP segment and an
    ICP country: industry and title widen the score, not the definition of the market.
    """
    icp = policy.icp
    points = icp.fit_points
    score = 0
    reasons: list[str] = []

    segment = policy.segment_for(lead.employees)
    segment_ok = segment is not None and segment in icp.segments
    if segment is None:
        reasons.append("company size unknown" if lead.employees is None
                       else f"company size {lead.employees} outside every segment")
    elif segment_ok:
        score += points.segment
        reasons.append(f"{segment} ({lead.employees} employees)")
    else:
        reasons.append(f"{segment} ({lead.employees} employees) outside ICP")

    industry = (lead.industry or "").strip()
    if not industry:
        reasons.append("industry unknown")
    elif industry.casefold() in _folded_set(tuple(icp.industries), str.casefold):
        score += points.industry
        reasons.append(f"industry {industry}")
    else:
        reasons.append(f"industry {industry} outside ICP")

    country = (lead.country or "").strip().upper()
    country_ok = country in _folded_set(tuple(icp.countries), str.upper)
    if not country:
        reasons.append("country unknown")
    elif country_ok:
        score += points.country
        reasons.append(f"country {country}")
    else:
        reasons.append(f"country {country} outside ICP")

    senior = senior_word(lead.title, icp.senior_title_words)
    if senior is not None:
        score += points.seniority
        reasons.append(f"{title_label(senior)} title")

    email_domain = normalize_domain(lead.email) if "@" in lead.email else ""
    if email_domain in _folded_set(tuple(icp.free_email_domains), str.lower):
        score -= points.free_email_penalty
        reasons.append(f"free email ({email_domain})")

    return Fit(score=float(max(0, min(100, score))), segment=segment,
               in_icp=segment_ok and country_ok, reasons=reasons)
