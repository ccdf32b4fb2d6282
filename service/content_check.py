"""What a draft says, checked against the store: nobody else's name, no address but the lead's,
links only to the policy's allow-list. The facts come from here; the rules are the pure
`agent.guardrails.content_blocks`.

    blocks = draft_content_blocks(rt, session, lead_id, subject, body)   # [] = may be sent

Other records' names in the text are found by their indexes (service/name_search.py), then
the pure check decides on whole words.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from agent.guardrails import LeadIdentity, content_blocks
from agent.privacy import domain_of_link
from service.name_search import other_people
from service.runtime import AppRuntime

if TYPE_CHECKING:
    from agent.drafting import DraftRequest
    from agent.models import Draft

log = logging.getLogger(__name__)


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
    recipient. `records=False` skips the search of other records (index lookups of the keys
    the text's words can be): for text built only from this lead's record and ours, like the
    offline draft, which cannot name anyone else.
    """
    from store.tables import Lead

    lead = session.get(Lead, lead_id)
    if lead is None or not lead.email:
        return []
    identity = LeadIdentity(email=lead.email, first_name=lead.first_name,
                            last_name=lead.last_name, company=lead.company, domain=lead.domain)
    people = other_people(session, lead_id, identity, f"{subject}\n{body}") if records else []
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
                people = other_people(session, lead.lead_id, identity,
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
