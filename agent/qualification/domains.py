"""Domains from what a lead gives us: normalised, compared (subdomains count, look-alikes do
not), and checked for being deliverable at all."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from agent.models import LeadProfile

_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_TLD = re.compile(r"^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")


# One lead's address is read by the disqualifiers, the fit and the target-account check, in
# both qualifications of a handoff, so reading it is cached; only values up to an address's
# longest (320), as the cache keeps its keys and lead-supplied domains are unbounded.
_CACHED_CHARS = 320


def normalize_domain(value: str | None) -> str:
    """A bare lower-case host name from a domain, URL or email address ("" when none)."""
    if value is not None and len(value) > _CACHED_CHARS:
        return _normalize_domain(value)
    return _cached_normalize_domain(value)


def _normalize_domain(value: str | None) -> str:
    text = (value or "").strip().lower()
    if "@" in text:
        text = text.rsplit("@", 1)[1]
    if "://" in text:
        text = _SCHEME.sub("", text)
    text = text.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    text = text.rsplit(":", 1)[0] if text.count(":") == 1 else text
    return text.rstrip(".")


_cached_normalize_domain = lru_cache(maxsize=4096)(_normalize_domain)


def within_domain(domain: str, parent: str) -> bool:
    """`domain` is `parent` or one of its subdomains (never a look-alike such as notparent.com)."""
    parent = normalize_domain(parent)
    return bool(domain and parent) and (domain == parent or domain.endswith("." + parent))


@lru_cache(maxsize=64)
def _rule_domains(rules: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """A policy's domain list as (as written, normalised) pairs, built once per list."""
    return tuple((rule, parent) for rule in rules if (parent := normalize_domain(rule)))


def matching_rule(domain: str, rules: Sequence[str]) -> str | None:
    """The first of the policy's `rules` (as written there) that `domain` is within, if any:
    `within_domain` over a whole list, its domains normalised once."""
    if not domain:
        return None
    return next((rule for rule, parent in _rule_domains(tuple(rules))
                 if domain == parent or domain.endswith("." + parent)), None)


def lead_domains(lead: LeadProfile) -> list[str]:
    """The lead's email domain and the CRM's company domain, each once, either may be missing:
    both identify the account."""
    found: list[str] = []
    for candidate in (normalize_domain(lead.email) if "@" in lead.email else "",
                      normalize_domain(lead.domain)):
        if candidate and candidate not in found:
            found.append(candidate)
    return found


def domain_problem(email: str) -> str | None:
    """Why an address has no usable domain, or None when it looks deliverable."""
    # Cached like `normalize_domain`: both qualifications of a handoff read the same address.
    if len(email) > _CACHED_CHARS:
        return _domain_problem(email)
    return _cached_domain_problem(email)


def _domain_problem(email: str) -> str | None:
    address = email.strip()
    if "@" not in address:
        return "email address has no @"
    if address.count("@") > 1:
        return "email address has more than one @"
    local, domain = address.split("@")
    # `address` is stripped, so it splits only at whitespace inside it (str.isspace's set).
    if not local or len(address.split()) > 1:
        return "email address is malformed"
    if not domain:
        return "email address has no domain"
    domain = domain.lower()
    if not domain.isascii():
        # International domains are fine once in their ASCII (punycode) form.
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            return f"email domain {domain!r} is not a valid international domain"
    if len(domain) > 253:
        return "email domain is too long"
    if "." not in domain:
        return f"email domain {domain!r} has no dot"
    labels = domain.split(".")
    if any(label == "" for label in labels):
        return f"email domain {domain!r} has an empty label"
    if not all(_LABEL.match(label) for label in labels):
        return f"email domain {domain!r} has invalid characters"
    if not _TLD.match(labels[-1]):
        return f"email domain {domain!r} has no valid top-level domain"
    return None


_cached_domain_problem = lru_cache(maxsize=4096)(_domain_problem)
