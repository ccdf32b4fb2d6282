"""The policy's [languages] table: the languages leads are written to in, and each language's
words for the rules (titles, student words, competitor words, page patterns, form names).

`merge_language_words` appends those words to the rules they extend when the policy file is
read, so every reader of `icp.senior_title_words`, `scoring.page_rules` etc. sees every
language; matching is accent- and case-insensitive (`agent.language.fold`).
"""

from __future__ import annotations

from datetime import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LanguagePageRule(_Frozen):
    """A page pattern in one language; its weight is the English rule's with the same label."""

    pattern: str = Field(min_length=2)
    label: str


class LanguageWords(_Frozen):
    """One language's words for the policy's rules ([languages.words.<code>]), matched accent-
    and case-insensitively; merged into the rules they extend when the policy loads."""

    stop_words: list[str] = []
    senior_title_words: list[str] = []
    # Student words that head a title from its first word as well as its last ("Étudiant en
    # master", "Praktikant Vertrieb", "Estudiante de ingeniería").
    student_title_words: list[str] = []
    competitor_words: list[str] = []
    page_rules: list[LanguagePageRule] = []
    # Canonical form name (demo | contact | pricing | trial | content | newsletter) -> the
    # names a form has in this language ("Demo-Anfrage", "contacto").
    form_names: dict[str, list[str]] = {}
    # What a lead's question is about (pricing | demo | integration | security | trial |
    # meeting) -> words that say so; the offline draft answers the topic it finds.
    question_topics: dict[str, list[str]] = {}


class Languages(_Frozen):
    """Which languages leads are written to in, and how a lead's language is known."""

    default: str = "en"
    # Stop words needed, and the lead over the runner-up, for a message to decide the language.
    min_stop_words: int = Field(default=3, ge=1)
    margin: int = Field(default=2, ge=1)
    # Only the first characters of each message are read.
    max_chars: int = Field(default=2000, gt=0)
    countries: dict[str, list[str]] = {}
    words: dict[str, LanguageWords] = {}

    @model_validator(mode="after")
    def _known(self) -> Languages:
        unknown = [code for code in self.countries if code not in self.words
                   and code != self.default]
        if unknown:
            raise ValueError(f"languages.countries names languages with no [languages.words."
                             f"<code>] table: {', '.join(unknown)}")
        return self


def merge_language_words(data: Any) -> Any:
    """The raw policy with every [languages.words.*] list appended to the rule it extends
    (senior titles, student titles, competitor words, page rules), so every reader of those
    rules sees all languages. Idempotent: a word already present is not added twice."""
    if not isinstance(data, dict) or not isinstance(data.get("languages"), dict):
        return data
    words = data["languages"].get("words")
    if not isinstance(words, dict):
        return data
    data = {**data}

    def extend(table: str, key: str, extra: list[Any]) -> None:
        section = data.get(table)
        if not isinstance(section, dict) or not isinstance(section.get(key), list):
            return
        data[table] = {**section, key: list(section[key]) + [
            e for e in extra if e not in section[key]]}

    for rules in words.values():
        if not isinstance(rules, dict):
            continue
        extend("icp", "senior_title_words", list(rules.get("senior_title_words", [])))
        extend("risks", "competitor_words", list(rules.get("competitor_words", [])))
        disq = data.get("disqualifiers")
        if isinstance(disq, dict):
            lead_words = list(disq.get("student_title_lead_words", []))
            data["disqualifiers"] = {**disq, "student_title_lead_words": lead_words + [
                w for w in rules.get("student_title_words", []) if w not in lead_words]}
        scoring = data.get("scoring")
        if isinstance(scoring, dict) and isinstance(scoring.get("page_rules"), list):
            page_rules = list(scoring["page_rules"])
            weights = {str(r.get("label", "")).casefold(): r.get("weight")
                       for r in page_rules if isinstance(r, dict)}
            seen = {(str(r.get("pattern")), str(r.get("label")))
                    for r in page_rules if isinstance(r, dict)}
            for rule in rules.get("page_rules", []):
                if not isinstance(rule, dict):
                    continue
                label = str(rule.get("label", ""))
                if (str(rule.get("pattern")), label) in seen:
                    continue
                weight = weights.get(label.casefold())
                if weight is None:
                    raise ValueError(f"languages page rule {rule.get('pattern')!r} names the "
                                     f"label {label!r}, which no [[scoring.page_rules]] has")
                page_rules.append({"pattern": rule.get("pattern"), "weight": weight,
                                   "label": label})
            data["scoring"] = {**scoring, "page_rules": page_rules}
    return data


class Drafting(_Frozen):
    """[drafting]: what the offline drafter offers when the next step is a meeting."""

    # Local times (the owner's time zone, inside business hours) offered on the first working
    # days after `min_notice_hours`: one time per day, so the lead gets two different days.
    meeting_times: list[time] = [time(10, 0), time(14, 0)]
    meeting_minutes: int = Field(default=30, gt=0)
    min_notice_hours: float = Field(default=12, ge=0)
    # How much of the lead's question the draft quotes (characters).
    max_quote_chars: int = Field(default=200, ge=40)
    # A sentence of the lead's with any of these (whole words, accent- and case-insensitive; a
    # trailing * any ending), an amount, a competitor word or instructions aimed at an assistant
    # is not quoted back: the draft answers its topic instead (a draft never says "discount").
    never_quote: list[str] = []
