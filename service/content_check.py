"""What a draft says, checked against the store: nobody else's name, no address but the lead's,
links only to the policy's allow-list. The facts come from here; the rules are the pure
`agent.guardrails.content_blocks`.

    blocks = draft_content_blocks(rt, session, lead_id, subject, body)   # [] = may be sent

Other people are found without reading every record: the keys a mentioned name can have are
derived from the text (`_candidate_keys`) and looked up in the indexes on the names' keys
(store.tables.base.name_key), so a draft costs the same with a hundred leads or a million; the
pure check then decides on whole words.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ARRAY,
    BindParameter,
    ColumnElement,
    CompoundSelect,
    Executable,
    Select,
    String,
    any_,
    bindparam,
    case,
    cast,
    false,
    func,
    literal_column,
    null,
    or_,
    select,
    union,
    union_all,
)
from sqlalchemy.orm import Session

from agent.guardrails import LeadIdentity, content_blocks
from agent.privacy import domain_of_link, normalize
from service.runtime import AppRuntime
from store.tables.base import NAME_KEY_CHARS, name_key

if TYPE_CHECKING:
    from agent.drafting import DraftRequest
    from agent.models import Draft

log = logging.getLogger(__name__)

# More candidate records than this for one draft means the text matches half the store (a name
# like "Li" in every body): the first ones are enough to refuse it.
MAX_CANDIDATES = 500
# Constants written into the statements, not bound: each execution has fewer parameters to
# process.
_ZERO: ColumnElement[int] = literal_column("0")
_LIMIT: ColumnElement[int] = literal_column(str(MAX_CANDIDATES))
# The lead's own names, as parameters of the search ("" for a name it does not have).
_OWN_NAMES = ("own_first_name", "own_last_name", "own_company")


def _ascii_lower(text: str) -> str:
    return "".join(ch.lower() if ch.isascii() else ch for ch in text)


def _case_forms(text: str) -> list[str]:
    """`text` in every case form a database `lower()` may produce from a stored name.
    PostgreSQL folds like Python's `lower`. SQLite's folds ASCII only and leaves "Ö" as it was
    stored, so the text is also offered ASCII-folded as written, in lower case, title case
    ("Ölander") and upper case: one of them matches however the record capitalised it."""
    if text.isascii():
        return [text.lower()]
    return list(dict.fromkeys(v for t in (text, normalize(text)) for v in (
        t.lower(), _ascii_lower(t), _ascii_lower(t.title()), _ascii_lower(t.upper()))))


def _forms(text: str) -> list[tuple[str, bool]]:
    """(form, whether its whitespace is as written) for every case form (`_case_forms`) of the
    text with its runs of whitespace made one space (a name may be broken over lines), and of
    the text as written if that differs (a stored name may hold a line break: it is found
    where the text writes it alike, as before the lookup, while a name stored with one space
    between its words is found however the text spaces them)."""
    collapsed = _SPACES.sub(" ", text)
    forms = [(f, False) for f in _case_forms(collapsed)]
    if collapsed != text:
        forms += [(f, True) for f in _case_forms(text)]
    return forms


def _haystack(text: str, forms: list[tuple[str, bool]] | None = None) -> str:
    """Every form of the text (`_forms`), one per line: what a stored name must occur in."""
    return "\n".join(f for f, _ in (_forms(text) if forms is None else forms))


_SPACES = re.compile(r"\s+")
_ODD_SPACE = re.compile(r"\s{2,}|[^\S ]")  # whitespace other than one space
_STARTS = re.compile(r"(?<!\w)\S")  # where a name may start: not after a word character
# ... and end: not before one (the end of a run of word characters, or another character
# not followed by one: matching whole runs skips the positions inside them).
_ENDS = re.compile(r"\w+|[^\w\s](?!\w)")


def _add_keys(keys: set[str], form: str, start: int = 0, stop: int | None = None) -> None:
    """`_candidate_keys` of `form` for the names that start from `start` to `stop`."""
    stop = len(form) if stop is None else stop
    last = len(form) - 1
    # (Read to NAME_KEY_CHARS past the last start: an end found at that edge may be none, a
    # word may go on, but no key reaches it.)
    ends = [m.end() for m in _ENDS.finditer(form, start, stop + NAME_KEY_CHARS)]
    ends.append(len(form) + NAME_KEY_CHARS + 2)  # past every limit: the loops stop on it
    add, at = keys.add, 0
    for m in _STARTS.finditer(form, start, stop):  # ascending, like `ends`
        first = m.start()
        if first < last:  # a stretch of two characters or more
            add(form[first:first + NAME_KEY_CHARS])
        while ends[at] <= first + 1:  # (pointers, not bisect: a third of the cost)
            at += 1
        limit, end = first + NAME_KEY_CHARS, at
        while ends[end] <= limit:
            add(form[first:ends[end]])
            end += 1


def _candidate_keys(text: str, forms: list[tuple[str, bool]] | None = None) -> list[str]:
    """Every key (`name_key`) a stored name that the text mentions can have.

    A mention is a whole-word match (the pure check's rule), so the name starts in one of
    the text's forms where no word character precedes and ends where none follows. A name of
    at most NAME_KEY_CHARS characters is its own key: every such stretch of at most that
    length (and two at least: the pure check ignores shorter names). A longer name's key is
    its first NAME_KEY_CHARS characters: the stretch of that length from every start. The
    cost follows the text's length, not the store's size. In a form with its whitespace as
    written only the stretches holding other whitespace than one space are new: only the
    starts that reach such whitespace are read."""
    keys: set[str] = set()
    for form, as_written in _forms(text) if forms is None else forms:
        if not as_written:
            _add_keys(keys, form)
            continue
        window: list[int] = []  # [first start, last start] reaching the odd whitespace so far
        for m in _ODD_SPACE.finditer(form):
            first = max(0, m.start() - NAME_KEY_CHARS + 1)
            if window and first <= window[1] + 1:
                window[1] = m.start()
                continue
            if window:
                _add_keys(keys, form, window[0], window[1] + 1)
            window = [first, m.start()]
        if window:
            _add_keys(keys, form, window[0], window[1] + 1)
    return list(keys)


def _keys_parameter(dialect: str, keys: list[str]) -> str:
    """`keys` as the `keys` parameter: one string, which the database splits (cheaper than
    the driver's adaptation of a list of a few hundred strings): a JSON array for SQLite, an
    array literal for PostgreSQL."""
    if dialect == "postgresql":
        return "{" + ",".join('"' + k.replace("\\", "\\\\").replace('"', '\\"') + '"'
                              for k in keys) + "}"
    return json.dumps(keys)


def _occurs_in(dialect: str, column: Any) -> ColumnElement[bool]:
    """`column` (lower-cased by the database) occurs in the `haystack` parameter: a plain
    substring search, no LIKE pattern, so a name holding `%`, `_` or a backslash means only
    itself. Tested only on the records the key search found."""
    value = func.lower(column)
    haystack = bindparam("haystack", type_=String)
    if dialect == "postgresql":
        return func.strpos(haystack, value) > _ZERO
    return func.instr(haystack, value) > _ZERO


def _found(dialect: str, entity: Any, column: Any, *columns: Any) -> Select[Any]:
    """`columns` of the records of `entity` whose `column` has one of the `keys` parameter's
    keys (store.tables.base.name_key) and occurs whole in the text (a longer name is found by
    its first characters only), each key a search of the column's key index.

    SQLite walks the keys (`json_each`) and searches the index for each: `IN (SELECT ...)`
    would first copy them into a temporary index, several times the cost of the searches.
    PostgreSQL orders a scan's tests by their cost, not as written, and counts a substring
    search of the long text as cheap: inside a CASE on the key it only runs on the few
    records with a matching key, whatever the plan."""
    keys: BindParameter[Any] = bindparam("keys")
    if dialect == "postgresql":
        key_in = name_key(column) == any_(cast(keys, ARRAY(String)))
        return select(*columns).where(
            key_in, case((key_in, _occurs_in(dialect, column)), else_=false()))
    text_keys = func.json_each(keys).table_valued("value").alias("text_keys")
    return (select(*columns).select_from(text_keys)
            .join(entity, name_key(column) == text_keys.c.value)
            .where(_occurs_in(dialect, column)))


@cache
def _candidate_queries(dialect: str) -> tuple[CompoundSelect[Any], Select[Any], Select[Any]]:
    """(other leads, support contacts, support contacts but the lead's own email), built once
    per dialect: every draft runs them, and building the expressions cost more than running
    them."""
    from store.tables import Lead, SupportConversation

    # One search per column, each served by its index: PostgreSQL plans an OR of the three
    # under a LIMIT as a scan of the table.
    names = (Lead.first_name, Lead.last_name, Lead.company)
    # A value the lead itself has (a colleague at the lead's own company, a namesake) is never
    # another person's in the pure check, whichever record holds it, so the search skips it:
    # otherwise every draft naming its company read every other lead at that company (up to
    # MAX_CANDIDATES rows to look at, for nothing). A name of such a record that does occur
    # is found by its own column's search. The database lowers both sides: the same function.
    own = [func.lower(bindparam(name, type_=String)) for name in _OWN_NAMES]
    leads = union(*(_found(dialect, Lead, column, *names)
                    .where(Lead.id != bindparam("lead_id"), Lead.erased_at.is_(None),
                           func.lower(column).not_in(own))
                    for column in names)).limit(_LIMIT)
    contacts = _found(dialect, SupportConversation, SupportConversation.customer_name,
                      SupportConversation.customer_name)
    not_own = contacts.where(or_(SupportConversation.customer_email.is_(None),
                                 func.lower(SupportConversation.customer_email)
                                 != bindparam("lead_email")))
    return leads, contacts.limit(_LIMIT), not_own.limit(_LIMIT)


@cache
def _candidate_search(dialect: str, own_email: bool) -> Executable:
    """`_candidate_queries`' leads and contacts (but the lead's own when `own_email`) as one
    statement, rows (first name, last name, company, contact name) with the other side's
    columns NULL: one execution a draft instead of two."""
    leads, contacts, not_own = _candidate_queries(dialect)
    found_leads = leads.subquery("found_leads")
    found_contacts = (not_own if own_email else contacts).subquery("found_contacts")
    nothing = null().cast(String)
    return union_all(select(*found_leads.c, nothing),
                     select(nothing, nothing, nothing, *found_contacts.c))


def other_people(session: Session, lead_id: str, lead: LeadIdentity, text: str) -> list[str]:
    """Names and companies of other records (leads, support contacts) that occur in `text`
    (`lead`: the identity of lead `lead_id`, whose own names are not searched for)."""
    conn = session.connection()  # Core statements: no ORM execution around them
    dialect = conn.dialect.name
    forms = _forms(text)
    keys = _candidate_keys(text, forms)
    if not keys:
        return []
    lead_email = lead.email.lower() if lead.email else None
    params = {"haystack": _haystack(text, forms), "keys": _keys_parameter(dialect, keys),
              "lead_id": lead_id, "lead_email": lead_email,
              **dict(zip(_OWN_NAMES, (lead.first_name or "", lead.last_name or "",
                                      lead.company or ""), strict=True))}
    leads: list[str] = []
    contacts: list[str] = []
    for first, last, company, contact in conn.execute(
            _candidate_search(dialect, bool(lead_email)), params):
        if contact is None:
            full = " ".join(p for p in (first, last) if p)
            leads += [v for v in (full, first, last, company) if v]
        else:
            contacts += [contact, *contact.split()]
    return list(dict.fromkeys(leads + contacts))


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
