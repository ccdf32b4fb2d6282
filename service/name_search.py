"""Which other records (leads, support contacts) a text names, found without reading every
record: the keys a mentioned name can have are derived from the text (`_candidate_keys`) and
looked up in the indexes on the names' keys (store.tables.base.name_key); the pure check
(agent.guardrails) then decides on whole words. The cost follows the text, not the store: a
name of up to NAME_KEY_CHARS characters is found exactly. Only a name longer than that is found
by its first NAME_KEY_CHARS characters, so every record whose name begins like a stretch of the
text that long is read.

    names = other_people(session, lead_id, identity, text)

The content check (service/content_check.py) is its one caller.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

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

from agent.guardrails import LeadIdentity
from agent.privacy import normalize
from store.tables.base import NAME_KEY_CHARS, name_key

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


def _own_keys(lead: LeadIdentity) -> set[str]:
    """Keys that find only the lead's own names: a name shorter than NAME_KEY_CHARS is its own
    key, so it finds records holding exactly that name, which the search excludes (other
    leads) or the pure check ignores (a contact named like the lead). Dropped before the
    search: a surname the store shares with thousands of leads was otherwise read thousands
    of times. ASCII only, where every lower() agrees."""
    names = (lead.first_name, lead.last_name, lead.company)
    return {n.lower() for n in names if n and n.isascii() and len(n) < NAME_KEY_CHARS}


def other_people(session: Session, lead_id: str, lead: LeadIdentity, text: str) -> list[str]:
    """Names and companies of other records (leads, support contacts) that occur in `text`
    (`lead`: the identity of lead `lead_id`, whose own names are not searched for)."""
    conn = session.connection()  # Core statements: no ORM execution around them
    dialect = conn.dialect.name
    forms = _forms(text)
    own = _own_keys(lead)
    keys = [k for k in _candidate_keys(text, forms) if k not in own]
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
