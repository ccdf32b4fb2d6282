"""Linking a support customer to their company's account by email domain (issue 18).

A customer who writes from `priya@northwind-logistics.com` while the store only knows
`tom@northwind-logistics.com` is still Northwind Logistics: the bot, the handoff rules and the
warm-transfer package then know the company, its size, owner and value. A free-mail or throwaway
domain never links (a gmail.com address says nothing about an employer): the policy's
`[icp] free_email_domains` and `[disqualifiers] throwaway_domains`, plus the consumer providers
below that policies rarely list.
"""

from __future__ import annotations

import re
from collections import Counter

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from agent.support.models import CompanyAccount
from service.runtime import AppRuntime
from store.tables import Lead

# Consumer mail providers (also common in Germany, France and Spain): never a company.
CONSUMER_MAIL_DOMAINS = frozenset("""
gmail.com googlemail.com yahoo.com yahoo.de yahoo.fr yahoo.es yahoo.co.uk ymail.com hotmail.com
hotmail.de hotmail.fr hotmail.es hotmail.co.uk outlook.com outlook.de outlook.fr outlook.es
live.com live.de live.fr msn.com icloud.com me.com mac.com aol.com aol.de proton.me protonmail.com
pm.me gmx.com gmx.de gmx.net gmx.at gmx.ch web.de t-online.de freenet.de posteo.de mailbox.org
orange.fr wanadoo.fr free.fr laposte.net sfr.fr neuf.fr telefonica.net movistar.es terra.es
mail.com zoho.com yandex.com yandex.ru mail.ru qq.com 163.com tutanota.com fastmail.com hey.com
""".split())
MAX_LEADS = 200
# A company name said back to a customer: from lead records (anyone can submit a form), so only
# a short plain name, never a link or markup.
_PLAIN_NAME = re.compile(r"^[^\W_][\w .,&'’()-]{0,79}$")
_LINKISH = re.compile(r"(https?:|www\.|\.[a-z]{2,}\b|@)", re.IGNORECASE)


def sayable_company(name: str | None) -> str | None:
    """`name` when it is a short plain company name fit to say to a customer, else None."""
    name = " ".join((name or "").split())
    if not name or not _PLAIN_NAME.match(name) or _LINKISH.search(name):
        return None
    return name


def email_domain(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    domain = email.rsplit("@", 1)[1].strip().lower().rstrip(".")
    return domain or None


def is_personal_domain(rt: AppRuntime, domain: str) -> bool:
    """A free-mail, consumer or throwaway domain: no company can be read from it."""
    domain = domain.lower()
    listed = {d.lower() for d in rt.policy.icp.free_email_domains}
    listed |= {d.lower() for d in rt.policy.disqualifiers.throwaway_domains}
    return domain in listed or domain in CONSUMER_MAIL_DOMAINS


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def company_account(rt: AppRuntime, session: Session, email: str | None
                    ) -> CompanyAccount | None:
    """The company account of `email`'s domain from the leads on file there (their domain field
    or their own address at it), or None for an unknown or personal domain. The company name is
    the one most leads there give; size the largest; owner and band those of the most recently
    updated lead that has one."""
    domain = email_domain(email)
    if domain is None or is_personal_domain(rt, domain):
        return None
    leads = list(session.scalars(
        select(Lead).where(Lead.erased_at.is_(None),
                           or_(func.lower(Lead.domain) == domain,
                               func.lower(Lead.email).like(f"%@{_like(domain)}", escape="\\")))
        .order_by(Lead.updated_at.desc()).limit(MAX_LEADS)))
    if not leads:
        return None
    names = Counter(lead.company.strip() for lead in leads if lead.company and lead.company.strip())
    sizes = [lead.employees for lead in leads if lead.employees]
    return CompanyAccount(
        domain=domain, company=names.most_common(1)[0][0] if names else None,
        employees=max(sizes) if sizes else None,
        owner=next((lead.owner for lead in leads if lead.owner), None),
        band=next((lead.band for lead in leads if lead.band), None),
        known_contacts=len(leads),
        linked_by="email" if any((lead.email or "").lower() == (email or "").lower()
                                 for lead in leads) else "domain")
