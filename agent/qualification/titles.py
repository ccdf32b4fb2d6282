"""Job titles read word by word: is the head noun a student word, is the person senior."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

# A title is cut into parts at these separators ("Intern, Marketing", "Student at MIT",
# "Head of Sales | Acme"), so each part's head noun can be judged on its own.
_TITLE_SEPARATORS = re.compile(r"[,;|/()\[\]@·•]|\s[-–—]\s|\bat\b", re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str | None) -> list[str]:
    return _WORD.findall((text or "").lower())


def _contains_phrase(words: Sequence[str], phrase: Sequence[str]) -> list[int]:
    """Start indexes where `phrase` occurs in `words` as whole words."""
    n = len(phrase)
    if n == 0:
        return []
    return [i for i in range(len(words) - n + 1) if list(words[i:i + n]) == list(phrase)]


def student_title(title: str | None, words: Iterable[str]) -> str | None:
    """The student word heading some part of the title, if any.

    A student word only counts as the head noun of a title part (its last word): "PhD Student",
    "Marketing Intern", "Intern, Sales", "Student at MIT" are students, while "Student Success
    Manager", "Intern Program Lead" or "Student Services Director" are staff who work *with*
    students, and may well be buyers.
    """
    phrases = [_words(w) for w in words]
    for part in _TITLE_SEPARATORS.split(title or ""):
        part_words = _words(part)
        for phrase in phrases:
            if phrase and part_words[-len(phrase):] == phrase:
                return " ".join(phrase)
    return None


def senior_word(title: str | None, words: Iterable[str]) -> str | None:
    """The first senior title word found as a whole word ("VP Operations" -> "vp").

    A match right after "to" / "to the" does not count: "Executive Assistant to the CEO" works
    for a senior person without being one.
    """
    title_words = _words(title)
    for word in words:
        phrase = _words(word)
        for i in _contains_phrase(title_words, phrase):
            before = title_words[max(0, i - 2):i]
            if before[-1:] == ["to"] or before == ["to", "the"]:
                continue
            return " ".join(phrase)
    return None


def title_label(word: str) -> str:
    """A title word as a rep writes it: acronyms upper case ("VP", "CEO"), words title case
    ("Director", "Vice President")."""
    return word.upper() if len(word) <= 3 else word.title()
