"""The lead's language, and matching words the way people type them in any of our languages.

`fold` makes rule matching accent- and case-insensitive ("Geschäftsführer", "GESCHAFTSFUHRER"
and "geschaeftsfuehrer" all match the policy's "Geschäftsführer"; "/fr/d%C3%A9mo" matches
"démo"). `lead_language` decides which language a draft or a bot answer is written in:

1. the lead's own messages, when they say it clearly: the policy's stop words ([languages.
   words.*].stop_words, the short function words every sentence has: "der, und, nicht" /
   "le, et, pas" / "el, y, no") counted per language; the winner needs `min_stop_words` hits
   and `margin` more than the runner-up;
2. else the lead's country ([languages.countries]);
3. else the policy's default language.

Why a rule and not a detection library: the four languages we write are told apart reliably by
their function words once a message has a sentence in it, and too short a message is ambiguous
for a statistical detector too (py3langid reads "Hola" as German). The rule is deterministic,
explainable in a card ("3 German stop words"), lives in the policy file with the other word
lists, and costs nothing at start-up (py3langid, the best-kept candidate, takes 3.7 s to load
its model in every process).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote

from agent.policy import Policy

_WORD = re.compile(r"[^\W\d_]+")
# German umlauts typed without the keyboard: "ae/oe/ue" for "ä/ö/ü" (only inside words that
# are folded for matching; the rule words are folded the same way).
_UMLAUT_SPELLINGS = (("ae", "a"), ("oe", "o"), ("ue", "u"))


def fold(text: str | None) -> str:
    """`text` lower-cased with accents removed ("Geschäftsführer" -> "geschaftsfuhrer",
    "Étudiant" -> "etudiant", "ß" -> "ss"); other characters are kept as they are."""
    text = text or ""
    if text.isascii():
        # ASCII has no decompositions and no combining marks: casefolding is the whole fold
        # (most titles, URLs and rule words), with no per-character pass.
        return text.casefold()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    if decomposed.isascii():
        return decomposed
    return "".join([ch for ch in decomposed if not unicodedata.combining(ch)])


def fold_umlauts(text: str | None) -> str:
    """`fold` that also reads the "ae/oe/ue" spellings as the plain vowel, for word matching
    ("Geschaeftsfuehrer" and "Geschäftsführer" both become "geschaftsfuhrer")."""
    folded = fold(text)
    for spelled, vowel in _UMLAUT_SPELLINGS:
        folded = folded.replace(spelled, vowel)
    return folded


def fold_url(url: str | None) -> str:
    """A URL as page rules see it: percent-decoded, then folded ("/fr/d%C3%A9mo" -> "/fr/demo")."""
    return fold(unquote(url or ""))


@dataclass(frozen=True)
class LanguageGuess:
    """Which language to write in, and why (shown to the rep)."""

    language: str
    source: str  # "messages" | "country" | "default"
    detail: str


def stop_word_counts(texts: Iterable[str], policy: Policy) -> dict[str, int]:
    """How many of each language's stop words the texts use (every occurrence counts)."""
    languages = policy.languages
    words: list[str] = []
    for text in texts:
        words.extend(_WORD.findall(fold(text)[:languages.max_chars]))
    counts: dict[str, int] = {}
    for code, rules in languages.words.items():
        stops = {fold(w) for w in rules.stop_words}
        counts[code] = sum(1 for w in words if w in stops)
    return counts


def language_of_text(texts: Iterable[str], policy: Policy,
                     min_hits: int | None = None) -> str | None:
    """The language the texts are clearly written in, or None when they do not say.
    `min_hits` (with a margin of 1) overrides the policy's thresholds for short texts."""
    counts = stop_word_counts(texts, policy)
    if not counts:
        return None
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    best, hits = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0
    rules = policy.languages
    needed, margin = ((min_hits, 1) if min_hits is not None
                      else (rules.min_stop_words, rules.margin))
    if hits >= needed and hits - runner_up >= margin:
        return best
    return None


def language_of_country(country: str | None, policy: Policy) -> str | None:
    code = (country or "").strip().upper()
    if not code:
        return None
    return next((lang for lang, countries in policy.languages.countries.items()
                 if code in {c.upper() for c in countries}), None)


def lead_language(country: str | None, messages: Iterable[str], policy: Policy) -> LanguageGuess:
    """The language to write to this lead in: their messages', else their country's, else the
    policy's default."""
    texts = [m for m in messages if m and m.strip()]
    spoken = language_of_text(texts, policy) if texts else None
    if spoken is not None:
        hits = stop_word_counts(texts, policy)[spoken]
        return LanguageGuess(spoken, "messages", f"{hits} {spoken} stop words in their messages")
    national = language_of_country(country, policy)
    if national is not None:
        return LanguageGuess(national, "country", f"country {country.strip().upper()}")  # type: ignore[union-attr]
    default = policy.languages.default
    return LanguageGuess(default, "default", "no language signal; the policy's default")


@lru_cache(maxsize=4096)
def fold_pattern(pattern: str) -> str:
    """`fold_url` of a policy pattern, cached (the same few patterns are read for every page
    view)."""
    return fold_url(pattern)


# Form-name aliases per policy languages table, kept with the table so its id stays unique.
_FORM_ALIASES: dict[int, tuple[object, dict[str, str]]] = {}


def _form_aliases(policy: Policy) -> dict[str, str]:
    languages = policy.languages
    cached = _FORM_ALIASES.get(id(languages))
    if cached is not None and cached[0] is languages:
        return cached[1]
    aliases = {fold(alias).strip(): canonical
               for rules in languages.words.values()
               for canonical, names in rules.form_names.items() for alias in names}
    if len(_FORM_ALIASES) > 64:
        _FORM_ALIASES.clear()
    _FORM_ALIASES[id(languages)] = (languages, aliases)
    return aliases


def canonical_form(name: str | None, policy: Policy) -> str:
    """A form's canonical name (demo | contact | pricing | trial | content | newsletter) from
    its name in any policy language ("Demo-Anfrage" -> "demo", "contacto" -> "contact");
    unknown names come back folded."""
    folded = fold(name).strip()
    return _form_aliases(policy).get(folded, folded)


LANGUAGE_NAMES = {"en": "English", "de": "German", "fr": "French", "es": "Spanish"}


def language_name(code: str) -> str:
    """The English name of a language code, for prompts and notes ("de" -> "German")."""
    return LANGUAGE_NAMES.get(code, code)
