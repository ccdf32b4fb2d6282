"""Lead and customer email addresses: one rule for every entry.

API events (`LeadIn`), `hitl ingest` files, support conversations (`CustomerIn`) and the CRM
hooks all accept an address only through `lead_address`, so the address stored, shown on the
approval card and used as the SMTP envelope recipient is one and the same string.

The rule: exactly one bare address (`name@company.com`). No display name, route, comment,
quoted local part, IP-literal domain, whitespace, control or invisible character, and nothing
that could be read as a second recipient. The syntax is checked by `email-validator` (no DNS);
the result is the input lower-cased with its domain in IDNA (ASCII) form, and an address the
library would otherwise have to rewrite (Unicode look-alike dots, decomposed letters) is refused
rather than silently turned into a different one.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator

# RFC 5321: a path is at most 256 octets including "<>"; a local part at most 64.
MAX_ADDRESS_CHARS = 254
HINT = "give one plain address like name@company.com"

# Characters whose presence means "not one bare address", each with why, checked before the
# library so the error says what is wrong in words a CRM admin can act on.
_SHAPES: tuple[tuple[str, str], ...] = (
    ('"\\', "has a quoted or escaped local part"),
    ("[]", "has an IP-address domain, which is not accepted"),
    (":", "contains a route or group (':')"),
    (",;", "holds more than one address (',' or ';')"),
    ("<>", "has a display name or angle brackets"),
    ("()", "contains a comment in parentheses"),
    ("%!", "contains a relay route ('%' or '!')"),
)


class AddressError(ValueError):
    """An address that is not acceptable; `field` names the input, `problem` says why."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}")
        self.field = field
        self.problem = problem


def _problem(value: str) -> str | None:
    """Why `value` (already stripped of surrounding spaces) is not one bare address, if so."""
    if not value:
        return "is empty"
    if len(value) > MAX_ADDRESS_CHARS:
        return f"is longer than {MAX_ADDRESS_CHARS} characters"
    for char in value:
        if unicodedata.category(char) == "Cc":
            return (f"contains a control character (U+{ord(char):04X}, e.g. a line break or "
                    "NUL); header injection is refused")
    for chars, problem in _SHAPES:
        if any(c in value for c in chars):
            return problem
    for char in value:
        if char.isspace() or unicodedata.category(char) in ("Zs", "Zl", "Zp", "Cf"):
            return f"contains whitespace or an invisible character (U+{ord(char):04X})"
    if value.count("@") != 1:
        return "must contain exactly one '@'"
    return None


def lead_address(value: Any, field: str = "email") -> str:
    """The canonical form of one lead or customer email address, or AddressError naming `field`.

    Surrounding spaces are dropped; everything else must already be one bare address. The
    result is lower-case with an ASCII (IDNA) domain: `Ada@Bücher.de` -> `ada@xn--bcher-kva.de`.
    """
    if not isinstance(value, str):
        raise AddressError(field, f"must be a string: {HINT}")
    value = value.strip(" ")
    problem = _problem(value)
    if problem:
        raise AddressError(field, f"{problem}: {HINT}")
    try:
        # Defaults that matter, spelled out: no display name, no quoted local part, no
        # IP literal, no special-use domain (localhost, .local, .test ...), no SMTPUTF8 (the
        # sender does not negotiate it, so such an address could never be delivered).
        checked = validate_email(
            value, check_deliverability=False, allow_smtputf8=False, allow_display_name=False,
            allow_quoted_local=False, allow_domain_literal=False, allow_empty_local=False,
            globally_deliverable=True, strict=True)
    except EmailNotValidError as exc:
        raise AddressError(field, f"is not a valid address ({exc}): {HINT}") from None
    local, _, domain = value.rpartition("@")
    given = unicodedata.normalize("NFC", domain).lower()
    if local != checked.local_part or given not in (checked.domain.lower(),
                                                     checked.ascii_domain.lower()):
        # e.g. "acme。io" (an ideographic full stop) becomes "acme.io": a different string than
        # the one given, so refuse it instead of guessing which mailbox was meant.
        raise AddressError(field, f"changes when normalised (to {checked.ascii_email!r}): "
                                  f"{HINT}")
    return f"{local.lower()}@{checked.ascii_domain.lower()}"


def same_address(a: str | None, b: str | None) -> bool:
    """Whether two addresses name the same mailbox (both canonical forms equal; invalid: no)."""
    if a is None or b is None:
        return False
    try:
        return lead_address(a) == lead_address(b)
    except AddressError:
        return False


def _validated(value: str) -> str:
    try:
        return lead_address(value)
    except AddressError as exc:
        # Pydantic puts the field's location next to the message; don't name it twice.
        raise ValueError(exc.problem) from None


LeadAddress = Annotated[str, AfterValidator(_validated)]
"""A pydantic field type: a lead or customer address in canonical form (422 when invalid)."""


# -- header and body text --------------------------------------------------------------------

MAX_SUBJECT_CHARS = 300
# Characters some mail or chat software reads as the end of a line: in a header value any of
# them could start a forged header ("\r\nBcc: ..."). Besides these, every character of the
# Unicode categories Zl and Zp (line and paragraph separators, U+2028 and U+2029 today) counts.
_LINE_BREAKS = frozenset("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def _breaks_line(char: str) -> bool:
    return char in _LINE_BREAKS or unicodedata.category(char) in ("Zl", "Zp")


def one_line_problem(value: str) -> str | None:
    """Why `value` is not one line of text (a line or paragraph break, or a control
    character), or None. The rule for every header-like field: a Subject, a customer's name."""
    for char in value:
        if _breaks_line(char):
            return (f"must be one line: a line break (U+{ord(char):04X}) could start a new "
                    "header")
        if unicodedata.category(char) == "Cc":
            return f"contains a control character (U+{ord(char):04X})"
    return None


def header_text_problem(value: str) -> str | None:
    """Why `value` cannot be one header line (a Subject), or None when it can."""
    problem = one_line_problem(value)
    if problem:
        return problem
    if len(value) > MAX_SUBJECT_CHARS:
        return f"is longer than {MAX_SUBJECT_CHARS} characters"
    return None


def clean_header_text(value: str, limit: int = MAX_SUBJECT_CHARS) -> str:
    """`value` as one safe header line: breaks and control characters become spaces, runs of
    whitespace one space, cut to `limit` characters (for text we write, e.g. a drafter's)."""
    spaced = "".join(" " if _breaks_line(c) or unicodedata.category(c) == "Cc" else c
                     for c in value)
    return " ".join(spaced.split())[:limit].strip()


def clean_body(value: str) -> str:
    """A body with CRLF as LF; ValueError for NUL, a lone CR or any other control character
    but newline and tab (they are not text a person meant, and NUL breaks PostgreSQL)."""
    value = value.replace("\r\n", "\n")
    for char in value:
        if char not in "\n\t" and unicodedata.category(char) == "Cc":
            raise ValueError(f"contains a control character (U+{ord(char):04X}); only line "
                             "breaks and tabs are allowed")
    return value
