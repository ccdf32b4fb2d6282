"""Job titles read word by word: is the head noun a student word, is the person senior."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from agent.language import fold_umlauts

# A title is cut into parts at these separators ("Intern, Marketing", "Student at MIT",
# "Head of Sales | Acme"), so each part's head noun can be judged on its own.
_TITLE_SEPARATORS = re.compile(r"[,;|/()\[\]@·•]|\s[-–—]\s|\bat\b", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+")


def _words(text: str | None) -> list[str]:
    """The words of `text`, folded: lower case, accents and umlaut spellings removed, so
    "Geschäftsführer", "GESCHAEFTSFUEHRER" and "geschaftsfuhrer" are one word."""
    return _WORD.findall(fold_umlauts(text))


def _phrase(word: str) -> list[str]:
    """A rule word as words; a leading "*" (German compounds: "*leiter") is kept on the first."""
    words = _words(word)
    if words and word.strip().startswith("*"):
        words[0] = "*" + words[0]
    return words


def _word_matches(word: str, rule: str) -> bool:
    return word.endswith(rule[1:]) if rule.startswith("*") else word == rule


def _contains_phrase(words: Sequence[str], phrase: Sequence[str]) -> list[int]:
    """Start indexes where `phrase` occurs in `words` as whole words."""
    n = len(phrase)
    if n == 0:
        return []
    return [i for i in range(len(words) - n + 1)
            if all(_word_matches(w, r) for w, r in zip(words[i:i + n], phrase, strict=True))]


def student_title(title: str | None, words: Iterable[str],
                  lead_words: Iterable[str] = ()) -> str | None:
    """The student word heading some part of the title, if any.

    A student word only counts as the head noun of a title part (its last word): "PhD Student",
    "Marketing Intern", "Intern, Sales", "Student at MIT" are students, while "Student Success
    Manager", "Intern Program Lead" or "Student Services Director" are staff who work *with*
    students, and may well be buyers. `lead_words` (languages whose head noun comes first:
    "Étudiant en master", "Praktikant Vertrieb") also count as a part's first word.
    """
    phrases = [_phrase(w) for w in words]
    leading = [_phrase(w) for w in lead_words]
    for part in _TITLE_SEPARATORS.split(title or ""):
        part_words = _words(part)
        for phrase in phrases + leading:
            if phrase and len(part_words) >= len(phrase) and 0 in _contains_phrase(
                    part_words[-len(phrase):], phrase):
                return " ".join(phrase).lstrip("*")
        for phrase in leading:
            if phrase and 0 in _contains_phrase(part_words[:len(phrase)], phrase):
                return " ".join(phrase).lstrip("*")
    return None


def senior_word(title: str | None, words: Iterable[str]) -> str | None:
    """The first senior title word found as a whole word ("VP Operations" -> "vp").

    A match right after "to" / "to the" does not count: "Executive Assistant to the CEO" works
    for a senior person without being one.
    """
    title_words = _words(title)
    for word in words:
        phrase = _phrase(word)
        for i in _contains_phrase(title_words, phrase):
            before = title_words[max(0, i - 2):i]
            if before[-1:] == ["to"] or before == ["to", "the"]:
                continue
            return word.strip().lstrip("*")
    return None


def title_label(word: str) -> str:
    """A title word as a rep writes it: acronyms upper case ("VP", "CEO"), words title case
    ("Director", "Vice President")."""
    return word.upper() if len(word) <= 3 else word.title()
