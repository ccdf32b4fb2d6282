"""Domains from what a lead gives us: normalised, compared (subdomains count, look-alikes do
not), and checked for being deliverable at all."""

from __future__ import annotations

import re

from agent.models import LeadProfile

_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_TLD = re.compile(r"^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$")


def normalize_domain(value: str | None) -> str:
    """A bare lower-case host name from a domain, URL or email address ("" when none)."""
    text = (value or "").strip().lower()
    if "@" in text:
        text = text.rsplit("@", 1)[1]
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text)
    text = text.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    text = text.rsplit(":", 1)[0] if text.count(":") == 1 else text
    return text.rstrip(".")


def within_domain(domain: str, parent: str) -> bool:
    """`domain` is `parent` or one of its subdomains (never a look-alike such as notparent.com)."""
    parent = normalize_domain(parent)
    return bool(domain and parent) and (domain == parent or domain.endswith("." + parent))


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
    address = email.strip()
    if "@" not in address:
        return "email address has no @"
    if address.count("@") > 1:
        return "email address has more than one @"
    local, domain = address.split("@")
    if not local or any(c.isspace() for c in address):
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

