"""Deterministic draft and package checks: grounding, guardrails, must / must-not mention.

Pure functions of text and data, written independently of the drafting code they judge (no
imports from `agent.drafting`), so a bug there cannot hide itself here.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

THRESHOLDS_FILE = Path(__file__).parent / "thresholds.toml"

# Capitalised words that are ordinary English at the start of a sentence or in a greeting, not
# names: anything else capitalised in a draft is treated as a name and must be in the package.
COMMON_CAPITALISED = frozenset("""
a about absolutely after again all also am an and any apologies are as at based be because before
best both but by can cheers congrats congratulations could dear did do does during each either
every feel few first following for free from glad good great had happy has have he hello her here
hey hi his hope hoping how however i i'd i'll i'm i've if in is it it's its just kind let let's
looking many may maybe me might more most much my next no not now of on once one or our over per
please quick re regards she should since so some soon sorry sure thank thanks that that's the
their them then there these they this those three to today together two understand unless us very
warm warmly was we we'd we'll we're we've welcome were what when where whether which while who
whom why will with would yes yet you you'd you'll you're you've your yours
""".split())
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = ("january", "february", "march", "april", "june", "july", "august", "september",
          "october", "november", "december")  # "may" only with a day number, below

_SENTENCE_END = re.compile(r"[.!?:;\n]\s*$")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'’-]*")
_NUMBER = re.compile(r"\d+(?:[.,:/]\d+)*%?")
_URL = re.compile(r"https?://[^\s<>\"')\]]+", re.IGNORECASE)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_MAY_DATE = re.compile(r"\bmay\s+\d{1,2}\b|\b\d{1,2}(?:st|nd|rd|th)?\s+may\b", re.IGNORECASE)
_PLACEHOLDERS = (
    re.compile(r"\[[^\]\n]{1,60}\]"),                 # [First Name]
    re.compile(r"\{\{|\}\}|\{[A-Za-z_ ]{1,40}\}"),    # {{ name }}, {company}
    re.compile(r"<[A-Za-z][A-Za-z _]{1,40}>"),        # <Company>
    re.compile(r"\bX{2,}\b|\bTBD\b|\bTODO\b|\bINSERT\b|\blorem ipsum\b", re.IGNORECASE),
)


@dataclass(frozen=True)
class GuardrailRules:
    subject_max_chars: int = 80
    body_min_words: int = 20
    body_max_words: int = 180
    forbidden_phrases: tuple[str, ...] = ()
    forbidden_patterns: tuple[str, ...] = ()
    internal_terms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Thresholds:
    """The gate's minimums, the guardrail rules and the known failures (thresholds.toml)."""

    version: int
    gate: dict[str, float]
    guardrails: GuardrailRules
    known_failures: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "gate": dict(self.gate),
                "known_failures": dict(self.known_failures)}


def load_thresholds(path: Path = THRESHOLDS_FILE) -> Thresholds:
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    rules = data.get("guardrails", {})
    return Thresholds(
        version=int(data.get("version", 0)),
        gate={k: float(v) for k, v in data.get("gate", {}).items()},
        guardrails=GuardrailRules(
            subject_max_chars=int(rules.get("subject_max_chars", 80)),
            body_min_words=int(rules.get("body_min_words", 20)),
            body_max_words=int(rules.get("body_max_words", 180)),
            forbidden_phrases=tuple(rules.get("forbidden_phrases", ())),
            forbidden_patterns=tuple(rules.get("forbidden_patterns", ())),
            internal_terms=tuple(rules.get("internal_terms", ())),
        ),
        known_failures={str(k): str(v) for k, v in data.get("known_failures", {}).items()},
    )


@dataclass
class CheckResult:
    """One check on one case: passed, and every reason it did not (short, human-readable)."""

    name: str
    passed: bool = True
    problems: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)

    def fail(self, problem: str) -> None:
        self.passed = False
        self.problems.append(problem)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"passed": self.passed, "problems": list(self.problems)}
        if self.detail:
            out["detail"] = self.detail
        return out


# --- matching ---------------------------------------------------------------------------------


def term_pattern(term: str) -> re.Pattern[str]:
    """A case-insensitive whole-word pattern; a trailing `*` matches any word ending."""
    wildcard = term.endswith("*")
    text = re.escape(term.rstrip("*").lower())
    start = r"(?<![a-z0-9])" if term[:1].isalnum() else ""
    end = r"[a-z0-9]*" if wildcard else (r"(?![a-z0-9])" if term.rstrip("*")[-1:].isalnum()
                                         else "")
    return re.compile(start + text + end, re.IGNORECASE)


def find_terms(text: str, terms: Iterable[str]) -> list[str]:
    """The terms (as written in the list) that occur in `text`."""
    return [t for t in terms if t and term_pattern(t).search(text)]


def _tokens(text: str) -> set[str]:
    return {w.lower().strip("'’-") for w in re.findall(r"[A-Za-z0-9][A-Za-z0-9'’.-]*", text)} | {
        w.lower() for w in re.findall(r"[A-Za-z0-9]+", text)}


# --- grounding --------------------------------------------------------------------------------


def _title_case(line: str) -> bool:
    words = [w for w in _WORD.findall(line) if len(w) > 3]
    return bool(words) and sum(w[0].isupper() for w in words) / len(words) > 0.6


def name_claims(text: str, *, skip_title_case: bool = False) -> list[str]:
    """Capitalised words that are not ordinary sentence starters: the draft's names."""
    if skip_title_case and _title_case(text):
        return []
    claims: list[str] = []
    for match in _WORD.finditer(text):
        word = match.group(0).strip("'’-")
        if not word or not word[0].isupper():
            continue
        lowered = word.lower().replace("’", "'")
        if lowered in COMMON_CAPITALISED or lowered.split("'")[0] in COMMON_CAPITALISED:
            continue
        if lowered in WEEKDAYS or lowered in MONTHS:
            continue  # judged as dates
        claims.append(word)
    return claims


def date_claims(text: str) -> list[str]:
    lowered = text.lower()
    found = [d for d in WEEKDAYS + MONTHS if re.search(rf"\b{d}\b", lowered)]
    found += [m.group(0) for m in _MAY_DATE.finditer(text)]
    return found


def grounding_check(
    subject: str,
    body: str,
    package: Mapping[str, Any],
    *,
    lead: Mapping[str, Any],
    sender_name: str,
    known_event_ids: Collection[str],
    known_event_types: Mapping[str, str] | None = None,
) -> CheckResult:
    """Every name, number, date, link and address in the draft appears in the package (or is the
    lead's own record or the sender), and every event id the package cites exists."""
    result = CheckResult("grounding")
    source = json.dumps(package, ensure_ascii=False) + " " + " ".join(
        str(lead.get(k) or "") for k in ("first_name", "last_name", "company", "title")
    ) + " " + sender_name
    source_lower = source.lower()
    vocabulary = _tokens(source)
    unsupported: list[dict[str, str]] = []

    def claim(kind: str, text: str) -> None:
        if {"kind": kind, "text": text} not in unsupported:
            unsupported.append({"kind": kind, "text": text})

    for part, skip in ((subject, True), (body, False)):
        for word in name_claims(part, skip_title_case=skip):
            lowered = word.lower().replace("’", "'")
            if lowered not in vocabulary and lowered.split("'")[0] not in vocabulary:
                claim("name", word)
    text = f"{subject}\n{body}"
    without_urls = _URL.sub(" ", _EMAIL.sub(" ", text))
    for number in _NUMBER.findall(without_urls):
        if number.rstrip("%.,") not in source_lower:
            claim("number", number)
    for date in date_claims(without_urls):
        if date.lower() not in source_lower:
            claim("date", date)
    for url in _URL.findall(text):
        if url.rstrip(".,;:!?").lower() not in source_lower:
            claim("link", url)
    for address in _EMAIL.findall(text):
        if address.lower() not in source_lower:
            claim("email", address)
    for item in unsupported:
        result.fail(f"unsupported {item['kind']}: {item['text']}")
    result.detail["unsupported"] = unsupported

    cited = cited_event_ids(package)
    for event_id, kind in cited:
        if event_id not in known_event_ids:
            result.fail(f"cites event {event_id} ({kind}), which does not exist")
        elif known_event_types is not None and kind and known_event_types.get(event_id) not in (
                None, kind):
            result.fail(f"cites event {event_id} as {kind}, but it is a "
                        f"{known_event_types[event_id]}")
    result.detail["cited_events"] = len(cited)
    return result


def cited_event_ids(package: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(event id, type) for every event the package cites: top signals, last touch, risks."""
    cited = [(str(s.get("event_id")), str(s.get("type") or ""))
             for s in package.get("top_signals") or []]
    touch = package.get("last_touch")
    if touch:
        cited.append((str(touch.get("event_id")), str(touch.get("type") or "")))
    cited += [(str(r["event_id"]), "") for r in package.get("risks") or [] if r.get("event_id")]
    return cited


# --- guardrails -------------------------------------------------------------------------------


def guardrail_check(
    subject: str,
    body: str,
    rules: GuardrailRules,
    *,
    other_people: Collection[str] = (),
    event_ids: Collection[str] = (),
    allowed_links: str = "",
) -> CheckResult:
    """Placeholders, length, forbidden promises, other leads' personal data, email addresses,
    internal vocabulary and unvouched links. `problems` start with the check's name."""
    result = CheckResult("guardrails")
    text = f"{subject}\n{body}"
    failed: dict[str, list[str]] = {}

    def fail(check: str, what: str) -> None:
        failed.setdefault(check, []).append(what)
        result.fail(f"{check}: {what}")

    for pattern in _PLACEHOLDERS:
        for match in pattern.finditer(text):
            fail("placeholder", match.group(0))
    if not subject.strip():
        fail("subject_length", "empty subject")
    elif "\n" in subject.strip() or len(subject.strip()) > rules.subject_max_chars:
        fail("subject_length", f"{len(subject.strip())} characters (at most "
                               f"{rules.subject_max_chars}, one line)")
    words = len(body.split())
    if not rules.body_min_words <= words <= rules.body_max_words:
        fail("body_length", f"{words} words (expected {rules.body_min_words}-"
                            f"{rules.body_max_words})")
    for term in find_terms(text, rules.forbidden_phrases):
        fail("forbidden_promise", term)
    for expression in rules.forbidden_patterns:
        for match in re.finditer(expression, text, re.IGNORECASE):
            fail("forbidden_promise", match.group(0))
    lowered = text.lower()
    for person in other_people:
        if person and person.lower() in lowered:
            fail("other_lead_pii", person)
    for address in _EMAIL.findall(text):
        fail("email_address", address)
    for term in find_terms(text, rules.internal_terms):
        fail("internal_terms", term)
    for event_id in event_ids:
        if event_id and re.search(rf"(?<![\w-]){re.escape(event_id)}(?![\w-])", text):
            fail("internal_terms", f"event id {event_id}")
    for url in _URL.findall(text):
        if not url.lower().startswith("https://") or url.rstrip(".,;:!?") not in allowed_links:
            fail("link", url)
    result.detail["failed_checks"] = sorted(failed)
    result.detail["words"] = words
    return result


GUARDRAIL_CHECKS = ("placeholder", "subject_length", "body_length", "forbidden_promise",
                    "other_lead_pii", "email_address", "internal_terms", "link")


# --- mentions ---------------------------------------------------------------------------------


def mention_check(name: str, text: str, must: Iterable[str], must_not: Iterable[str]
                  ) -> CheckResult:
    result = CheckResult(name)
    for term in must:
        if not term_pattern(term).search(text):
            result.fail(f"missing {term!r}")
    for term in find_terms(text, must_not):
        result.fail(f"contains {term!r}")
    return result
