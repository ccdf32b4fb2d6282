"""The policy's outright refusals: students, competitors, undeliverable and throwaway addresses."""

from __future__ import annotations

from functools import lru_cache

from agent.models import Disqualifier, LeadProfile
from agent.policy import Policy
from agent.qualification.domains import (
    domain_problem,
    lead_domains,
    matching_rule,
    normalize_domain,
)
from agent.qualification.titles import student_title


@lru_cache(maxsize=64)
def _bare_suffixes(suffixes: tuple[str, ...]) -> tuple[str, ...]:
    """The policy's academic suffixes as domains (".edu" -> "edu"), built once per list."""
    return tuple(bare for suffix in suffixes if (bare := suffix.strip().lower().lstrip(".")))


def disqualifiers(lead: LeadProfile, policy: Policy) -> list[Disqualifier]:
    """Every reason the policy refuses this lead outright, at most one per code.

    Students (title head noun or an academic email suffix), competitors (email or company
    domain, subdomains included), addresses without a valid-looking domain, and throwaway
    mailboxes. Each carries a human-readable reason for the rep and the audit log.
    """
    rules = policy.disqualifiers
    found: list[Disqualifier] = []
    email_problem = domain_problem(lead.email)
    email_domain = "" if email_problem else normalize_domain(lead.email)

    student_reasons: list[str] = []
    word = student_title(lead.title, rules.student_title_words,
                         rules.student_title_lead_words)
    if word is not None:
        title = (lead.title or "").strip()
        short = title if len(title) <= 60 else title[:57] + "..."
        student_reasons.append(f"title {short!r} reads as a {word}")
    # ".edu" must be a whole trailing label: "education.com" is a company, "mit.edu" is not.
    academic = matching_rule(email_domain, _bare_suffixes(tuple(rules.student_email_suffixes)))
    if academic is not None:
        student_reasons.append(f"academic email domain {email_domain} ({'.' + academic})")
    if student_reasons:
        found.append(Disqualifier(code="student", reason="; ".join(student_reasons)))

    for domain in lead_domains(lead):
        competitor = matching_rule(domain, rules.competitor_domains)
        if competitor is not None:
            found.append(Disqualifier(
                code="competitor", reason=f"competitor domain {domain} ({competitor})"))
            break

    if email_problem is not None:
        found.append(Disqualifier(code="invalid_domain", reason=email_problem))

    throwaway = matching_rule(email_domain, rules.throwaway_domains)
    if throwaway is not None:
        found.append(Disqualifier(
            code="throwaway_domain", reason=f"throwaway email domain {email_domain}"))
    return found
