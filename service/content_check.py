"""What a draft says, checked against the store: nobody else's name, no address but the lead's,
links only to the policy's allow-list. The facts come from here; the rules are the pure
`agent.guardrails.content_blocks`.

    blocks = draft_content_blocks(rt, session, lead_id, subject, body)   # [] = may be sent

Other people are found without reading every record: the store is asked only for leads (and
support contacts) whose first name, last name or company occurs somewhere in the text, one
scan of each table done by the database; the pure check then decides on whole words.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Executable, String, and_, bindparam, func, or_, select
from sqlalchemy.orm import Session

from agent.guardrails import LeadIdentity, content_blocks
from agent.privacy import domain_of_link, normalize
from service.runtime import AppRuntime

if TYPE_CHECKING:
    from agent.drafting import DraftRequest
    from agent.models import Draft

log = logging.getLogger(__name__)

# More candidate records than this for one draft means the text matches half the store (a name
# like "Li" in every body): the first ones are enough to refuse it.
MAX_CANDIDATES = 500


def _ascii_lower(text: str) -> str:
    return "".join(ch.lower() if ch.isascii() else ch for ch in text)


def _haystack(text: str) -> str:
    """The text in every case form a database `lower()` may produce from a stored name.
    PostgreSQL folds like Python's `lower`. SQLite's folds ASCII only and leaves "Ö" as it was
    stored, so the text is also offered ASCII-folded as written, in lower case, title case
    ("Ölander") and upper case: one of them matches however the record capitalised it."""
    if text.isascii():
        return text.lower()
    forms = [text, normalize(text)]
    variants = [v for t in forms for v in (t.lower(), _ascii_lower(t), _ascii_lower(t.title()),
                                           _ascii_lower(t.upper()))]
    return "\n".join(dict.fromkeys(variants))


def _occurs_in(dialect: str, column: Any) -> ColumnElement[bool]:
    """`column` (lower-cased by the database) occurs in the `haystack` parameter: a plain
    substring search, no LIKE pattern, so a name holding `%`, `_` or a backslash means only
    itself."""
    value = func.lower(column)
    haystack = bindparam("haystack", type_=String)
    if dialect == "postgresql":
        found = func.strpos(haystack, value) > 0
    else:
        found = func.instr(haystack, value) > 0
    return and_(func.length(column) >= 2, found)


@cache
def _candidate_queries(dialect: str) -> tuple[Executable, Executable, Executable]:
    """(other leads, support contacts, support contacts but the lead's own email), built once
    per dialect: every draft runs them, and building the expressions cost more than the scan."""
    from store.tables import Lead, SupportConversation

    leads = (select(Lead.first_name, Lead.last_name, Lead.company)
             .where(Lead.id != bindparam("lead_id"), Lead.erased_at.is_(None),
                    or_(*(_occurs_in(dialect, c)
                          for c in (Lead.first_name, Lead.last_name, Lead.company))))
             .limit(MAX_CANDIDATES))
    contacts = select(SupportConversation.customer_name).where(
        _occurs_in(dialect, SupportConversation.customer_name))
    not_own = contacts.where(or_(SupportConversation.customer_email.is_(None),
                                 func.lower(SupportConversation.customer_email)
                                 != bindparam("lead_email")))
    return leads, contacts.limit(MAX_CANDIDATES), not_own.limit(MAX_CANDIDATES)


def other_people(session: Session, lead_id: str, lead_email: str | None,
                 text: str) -> list[str]:
    """Names and companies of other records (leads, support contacts) that occur in `text`."""
    conn = session.connection()  # Core statements: no ORM execution around them
    leads, contacts, not_own = _candidate_queries(conn.dialect.name)
    haystack = _haystack(text)
    found: list[str] = []
    for first, last, company in conn.execute(
            leads, {"lead_id": lead_id, "haystack": haystack}).all():
        full = " ".join(p for p in (first, last) if p)
        found += [v for v in (full, first, last, company) if v]
    query, params = ((not_own, {"haystack": haystack, "lead_email": lead_email.lower()})
                     if lead_email else (contacts, {"haystack": haystack}))
    for (name,) in conn.execute(query, params).all():
        found += [name, *name.split()] if name else []
    return list(dict.fromkeys(found))


def _asset_domains(context: Mapping[str, Any] | None) -> list[str]:
    """The recommended asset's domain when its path is a link: the content library is ours."""
    action = (context or {}).get("recommended_action") or {}
    path = str((action.get("asset") or {}).get("path") or "")
    if not path.lower().startswith("https://"):
        return []
    domain = domain_of_link(path)
    return [domain] if domain else []


def allowed_domains(rt: AppRuntime, context: Mapping[str, Any] | None = None) -> list[str]:
    """The policy's link allow-list, plus the domain of the package's recommended asset."""
    return [*rt.policy.content.allowed_link_domains, *_asset_domains(context)]


def allowed_names(rt: AppRuntime, context: Mapping[str, Any] | None = None) -> list[str]:
    """Names a draft may use even when some record carries them too: the team's (a draft signs
    with them), the policy's own list (vendor, products, reference customers), the competitors
    the policy names (a rep may say "moving over from RivalSoft" although someone at RivalSoft
    is a lead), and the title of the package's recommended asset (our content library's)."""
    names: list[str] = []
    for member in rt.roster.members:
        names += [member.name, *member.name.split()]
    names += rt.policy.content.allowed_names
    names += rt.policy.risks.competitor_words
    action = (context or {}).get("recommended_action") or {}
    title = str((action.get("asset") or {}).get("title") or "")
    if title:
        names.append(title)
    return list(dict.fromkeys(n for n in names if n))


def team_addresses(rt: AppRuntime) -> list[str]:
    """Addresses a draft may show besides the lead's: the sender's and the team's."""
    return [rt.settings.from_email, *(m.email for m in rt.roster.members)]


def draft_content_blocks(rt: AppRuntime, session: Session, lead_id: str, subject: str,
                         body: str, *, context: Mapping[str, Any] | None = None,
                         extra_people: Iterable[str] = (), records: bool = True) -> list[str]:
    """Every reason `subject`/`body` must not be sent to lead `lead_id` (empty: it may).

    Reads the lead, the other records whose names occur in the text, the roster and the
    policy's allow-list through `session`; `context` (the approval's stored package, optional)
    adds the recommended asset's domain to the allow-list and its title to the allowed names.
    A lead that is gone gives [] here: the send guardrails already refuse a message without a
    recipient. `records=False` skips the search of other records (one scan of the leads table,
    about 1.5 µs a lead on SQLite): for text built only from this lead's record and ours, like
    the offline draft, which cannot name anyone else.
    """
    from store.tables import Lead

    lead = session.get(Lead, lead_id)
    if lead is None or not lead.email:
        return []
    identity = LeadIdentity(email=lead.email, first_name=lead.first_name,
                            last_name=lead.last_name, company=lead.company, domain=lead.domain)
    people = other_people(session, lead_id, lead.email, f"{subject}\n{body}") if records else []
    return blocks_for(rt, identity, subject, body, context=context,
                      other=[*people, *extra_people])


def blocks_for(rt: AppRuntime, lead: LeadIdentity, subject: str, body: str, *,
               context: Mapping[str, Any] | None = None, other: Iterable[str] = ()) -> list[str]:
    """`draft_content_blocks` for a lead already read (`other`: the other records' names
    found in the text, `other_people`): the pure rules, no store."""
    if not lead.email:
        return []
    return content_blocks(subject, body, lead=lead, other_people=list(other),
                          allowed_domains=allowed_domains(rt, context),
                          allowed_addresses=team_addresses(rt),
                          allowed_names=allowed_names(rt, context))


# The start of a draft note whose text the pre-send check will refuse.
CONTENT_WARNING = "⚠ will be refused at send unless edited"
NOT_FOLLOWED = "the instruction was not followed: the content check refuses what it adds"


def checked_draft(rt: AppRuntime, request: DraftRequest, written: Draft) -> Draft:
    """The pre-send content check, run on a fresh draft for `request`'s lead.

    A model draft that fails it (another lead's name, a foreign address, a link off the
    allow-list, e.g. copied from the lead's own text) is unusable like any other bad model
    output: the offline draft replaces it, saying why. Whatever still fails carries a
    warning in its note, which the card shows before anyone approves.

    The lead is the request's (read by the draft step): the store is read only to search
    the other records, and not at all for text that cannot name them."""
    from agent.drafting import OfflineDrafter, fallback_draft

    lead, context = request.lead, request.context
    asset = context.recommended_action.asset
    package = {"recommended_action": {"asset": {"path": asset.path if asset else "",
                                                 "title": asset.title if asset else ""}}}
    identity = LeadIdentity(email=lead.email, first_name=lead.first_name,
                            last_name=lead.last_name, company=lead.company, domain=lead.domain)

    def blocks_of(draft: Draft) -> list[str]:
        # An offline draft is built from this lead's record and our own words only: it can
        # carry a link (a company named like a domain) but no other record's name, so the
        # scan of the other records is spared (presend still does it), unless it quotes
        # the lead's own question, which may name anyone, or follows a person's instruction
        # ("mention X" may name anyone).
        people: list[str] = []
        if identity.email and (draft.source == "model" or bool(request.lead_question)
                               or bool(request.instructions)):
            with rt.db.read() as session:
                people = other_people(session, lead.lead_id, identity.email,
                                      f"{draft.subject}\n{draft.body}")
        return blocks_for(rt, identity, draft.subject, draft.body, context=package,
                          other=people)

    blocks = blocks_of(written)
    if blocks and written.source == "model":
        log.warning("model draft for lead %s refused by the content check (%d reasons); "
                    "using the offline draft", lead.lead_id, len(blocks))
        written = fallback_draft(OfflineDrafter(), request,
                                 f"model draft unusable ({'; '.join(blocks)})")
        blocks = blocks_of(written)
    if blocks and request.instructions:  # "mention X" carried it: draft without the words
        bare = request.model_copy(update={"instruction": None, "variant_instruction": None})
        redrafted = OfflineDrafter().draft(bare)
        if not blocks_of(redrafted):
            note = f"{written.note}; {NOT_FOLLOWED}" if written.note else NOT_FOLLOWED
            return redrafted.model_copy(update={"source": written.source, "note": note})
    if blocks:
        warning = f"{CONTENT_WARNING}: {'; '.join(blocks)}"
        written = written.model_copy(update={
            "note": f"{written.note}; {warning}" if written.note else warning})
    return written
