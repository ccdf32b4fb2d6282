"""Job titles read word by word: is the head noun a student word, is the person senior.

Rule words are folded into phrases once per word list (`_rule_phrases`, keyed by the list's
words, so a reloaded policy gets its own), and indexed by the word a match must start or end
with: a title is then checked against the few rules that could match it, not all of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from agent.language import fold_umlauts

# A title is cut into parts at these separators ("Intern, Marketing", "Student at MIT",
# "Head of Sales | Acme"), so each part's head noun can be judged on its own.
_TITLE_SEPARATORS = re.compile(r"[,;|/()\[\]@·•]|\s[-–—]\s|\bat\b", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+")


def _words(text: str | None) -> list[str]:
    """The words of `text`, folded: lower case, accents and umlaut spellings removed, so
    "Geschäftsführer", "GESCHAEFTSFUEHRER" and "geschaftsfuhrer" are one word."""
    return _WORD.findall(fold_umlauts(text))


# Titles repeat ("VP Operations") and each lead is qualified twice per handoff, so a title's
# words are cached; only short ones, as titles are lead-supplied and the cache keeps its keys.
_CACHED_TITLE_CHARS = 200


def _title_words(text: str) -> tuple[str, ...]:
    """`_words` of a title or title part, cached when short."""
    return _cached_title_words(text) if len(text) <= _CACHED_TITLE_CHARS else tuple(_words(text))


def _title_parts(title: str) -> tuple[tuple[str, ...], ...]:
    """The words of each part of a title (see `_TITLE_SEPARATORS`), cached when short."""
    return (_cached_title_parts(title) if len(title) <= _CACHED_TITLE_CHARS
            else _split_title(title))


@lru_cache(maxsize=4096)
def _cached_title_words(text: str) -> tuple[str, ...]:
    return tuple(_words(text))


def _split_title(title: str) -> tuple[tuple[str, ...], ...]:
    return tuple(_title_words(part) for part in _TITLE_SEPARATORS.split(title))


_cached_title_parts = lru_cache(maxsize=4096)(_split_title)


def _phrase(word: str) -> list[str]:
    """A rule word as words; a leading "*" (German compounds: "*leiter") is kept on the first."""
    words = _words(word)
    if words and word.strip().startswith("*"):
        words[0] = "*" + words[0]
    return words


def _word_matches(word: str, rule: str) -> bool:
    return word.endswith(rule[1:]) if rule.startswith("*") else word == rule


def _is_phrase_at(words: Sequence[str], i: int, phrase: Sequence[str]) -> bool:
    """`phrase` occurs in `words` as whole words starting at index `i`."""
    n = len(phrase)
    if n == 0 or i < 0 or i + n > len(words):
        return False
    return all(_word_matches(words[i + k], phrase[k]) for k in range(n))


@dataclass(frozen=True)
class _Suffixes:
    """The "*" rule words of one position: (suffix, phrase index), and all suffixes at once."""

    rules: tuple[tuple[str, int], ...]
    ends: tuple[str, ...]


@dataclass(frozen=True)
class _RuleIndex:
    """Rule phrases (in the policy's order) by the word a match must start or end with.

    Only a phrase's first word can be a "*" suffix rule (`_WORD` drops the "*" elsewhere), so a
    phrase's last word is exact unless it is a one-word suffix phrase.
    """

    phrases: tuple[tuple[str, ...], ...]
    by_first: dict[str, tuple[int, ...]]
    first_suffixes: _Suffixes
    by_last: dict[str, tuple[int, ...]]
    last_suffixes: _Suffixes

    def starting_with(self, word: str) -> Sequence[int]:
        """Indexes of the phrases whose first rule word matches `word` (unordered)."""
        return _matching(word, self.by_first, self.first_suffixes)

    def ending_with(self, word: str) -> Sequence[int]:
        """Indexes of the phrases whose last rule word matches `word` (unordered)."""
        return _matching(word, self.by_last, self.last_suffixes)


def _matching(word: str, exact: dict[str, tuple[int, ...]], suffixes: _Suffixes) -> Sequence[int]:
    found = exact.get(word, ())
    # Most words end in no suffix rule: one str.endswith over all of them settles it.
    if not word.endswith(suffixes.ends):
        return found
    return [*found, *(i for suffix, i in suffixes.rules if word.endswith(suffix))]


def _index(phrases: tuple[tuple[str, ...], ...]) -> _RuleIndex:
    by_first: dict[str, list[int]] = {}
    by_last: dict[str, list[int]] = {}
    first_suffixes: list[tuple[str, int]] = []
    last_suffixes: list[tuple[str, int]] = []
    for i, phrase in enumerate(phrases):
        if not phrase:
            continue  # a rule word without letters matches nothing
        for rule, exact, suffixes in ((phrase[0], by_first, first_suffixes),
                                      (phrase[-1], by_last, last_suffixes)):
            if rule.startswith("*"):
                suffixes.append((rule[1:], i))
            else:
                exact.setdefault(rule, []).append(i)
    return _RuleIndex(
        phrases=phrases,
        by_first={w: tuple(ids) for w, ids in by_first.items()},
        first_suffixes=_Suffixes(tuple(first_suffixes), tuple(s for s, _ in first_suffixes)),
        by_last={w: tuple(ids) for w, ids in by_last.items()},
        last_suffixes=_Suffixes(tuple(last_suffixes), tuple(s for s, _ in last_suffixes)))


@lru_cache(maxsize=64)
def _rule_phrases(words: tuple[str, ...]) -> _RuleIndex:
    """The policy's rule words as indexed phrases, built once per word list."""
    return _index(tuple(tuple(_phrase(w)) for w in words))


@dataclass(frozen=True)
class _StudentRules:
    head_nouns: _RuleIndex  # student words, then lead words: a part's last words
    lead_nouns: _RuleIndex  # lead words: a part's first words
    labels: tuple[str, ...]  # by head_nouns index
    lead_labels: tuple[str, ...]


@lru_cache(maxsize=64)
def _student_rules(words: tuple[str, ...], lead_words: tuple[str, ...]) -> _StudentRules:
    head_nouns = _rule_phrases(words + lead_words)
    lead_nouns = _rule_phrases(lead_words)
    return _StudentRules(
        head_nouns=head_nouns, lead_nouns=lead_nouns,
        labels=tuple(" ".join(p).lstrip("*") for p in head_nouns.phrases),
        lead_labels=tuple(" ".join(p).lstrip("*") for p in lead_nouns.phrases))


def student_title(title: str | None, words: Iterable[str],
                  lead_words: Iterable[str] = ()) -> str | None:
    """The student word heading some part of the title, if any.

    A student word only counts as the head noun of a title part (its last word): "PhD Student",
    "Marketing Intern", "Intern, Sales", "Student at MIT" are students, while "Student Success
    Manager", "Intern Program Lead" or "Student Services Director" are staff who work *with*
    students, and may well be buyers. `lead_words` (languages whose head noun comes first:
    "Étudiant en master", "Praktikant Vertrieb") also count as a part's first word.
    """
    rules = _student_rules(tuple(words), tuple(lead_words))
    head, lead = rules.head_nouns, rules.lead_nouns
    for part_words in _title_parts(title or ""):
        if not part_words:
            continue
        # The first rule (in the policy's order) whose phrase ends the part, then the first
        # lead word whose phrase starts it.
        last = len(part_words)
        ending = [i for i in head.ending_with(part_words[-1])
                  if _is_phrase_at(part_words, last - len(head.phrases[i]), head.phrases[i])]
        if ending:
            return rules.labels[min(ending)]
        starting = [i for i in lead.starting_with(part_words[0])
                    if _is_phrase_at(part_words, 0, lead.phrases[i])]
        if starting:
            return rules.lead_labels[min(starting)]
    return None


def senior_word(title: str | None, words: Iterable[str]) -> str | None:
    """The first senior title word found as a whole word ("VP Operations" -> "vp").

    A match right after "to" / "to the" does not count: "Executive Assistant to the CEO" works
    for a senior person without being one.
    """
    rule_words = tuple(words)
    rules = _rule_phrases(rule_words)
    title_words = _title_words(title or "")
    best: int | None = None
    for at, word in enumerate(title_words):
        for i in rules.starting_with(word):
            if best is not None and i >= best:
                continue
            if not _is_phrase_at(title_words, at, rules.phrases[i]):
                continue
            before = title_words[max(0, at - 2):at]
            if before[-1:] == ("to",) or before == ("to", "the"):
                continue
            best = i
    return rule_words[best].strip().lstrip("*") if best is not None else None


def title_label(word: str) -> str:
    """A title word as a rep writes it: acronyms upper case ("VP", "CEO"), words title case
    ("Director", "Vice President")."""
    return word.upper() if len(word) <= 3 else word.title()
