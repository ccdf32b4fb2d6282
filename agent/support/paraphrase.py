"""Is this the same question again? A deterministic, offline reading of two customer messages
in English, German, French or Spanish, used with the embeddings' similarity to count repeats.

A message is read as its *action* (reset, export, add, remove, ...) and its *topics* (password,
invoice, contacts, and every other content word), after folding words (lower case, no accents,
no plural "s") and mapping synonyms and other languages onto one name
(`paraphrase_words.toml`: "Passwort", "mot de passe" and "contraseña" are all `password`).

`compare(a, b)` answers:
- `different` when both name an action and no action is shared ("add a user" / "remove a
  user"): the embeddings are not asked, however alike the wording;
- `same`, with a score, when they share a topic (a weak topic such as "file" alone does not
  count) and do not ask for different actions;
- `unknown` when the words say nothing either way (the caller falls back to the embeddings).

The score is rapidfuzz's token-set ratio of the two readings (0..1), so it is 1.0 when one
question's reading is contained in the other's.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from rapidfuzz import fuzz

WORDS_FILE = Path(__file__).with_name("paraphrase_words.toml")
# A listed word of at least this many letters also covers the longer words it begins.
_PREFIX_MIN = 5
_TOKEN = re.compile(r"[a-z0-9]+(?:['’][a-z0-9]+)?")
_ELISION = re.compile(r"^(?:l|d|j|qu|s|n|m|c|t)['’](.+)$")

Verdict = Literal["same", "different", "unknown"]


def fold(text: str) -> str:
    """Lower case without accents ("Zurücksetzen" -> "zurucksetzen", "ß" -> "ss")."""
    text = text.lower().replace("ß", "ss")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _covers(listed: str, word: str) -> bool:
    """Whether the listed word (a folded stem) stands for `word`: the same word, a listed word
    of at least _PREFIX_MIN letters that `word` begins with, or a `word` of more than
    _PREFIX_MIN letters that the listed word begins with ("contrat" for a listed "contrato")."""
    if word == listed:
        return True
    if len(listed) >= _PREFIX_MIN and word.startswith(listed):
        return True
    return len(word) >= _PREFIX_MIN + 1 and listed.startswith(word)


class WordTable:
    """Listed words (folded stems) and the name each gives, in the file's order. `name(word)`
    is the name of the first entry that covers `word` (`_covers`), found with a few dict
    lookups instead of a test of every entry: a message's every word is looked up, and the
    knowledge base's sections are read for every question."""

    def __init__(self, entries: tuple[tuple[str, str], ...]) -> None:
        self.entries = entries
        self._exact: dict[str, int] = {}       # a listed word -> its first entry
        self._beginnings: dict[str, int] = {}  # a beginning of a listed word, > _PREFIX_MIN
        # No listed word is longer: a word's longer beginnings are not looked up (a customer's
        # 10,000-letter "word" costs a few lookups, not 10,000 slices of it).
        self._longest = max((len(listed) for listed, _ in entries), default=0)
        for at, (listed, _) in enumerate(entries):
            self._exact.setdefault(listed, at)
            for end in range(_PREFIX_MIN + 1, len(listed) + 1):
                self._beginnings.setdefault(listed[:end], at)

    def name(self, word: str) -> str | None:
        found = [self._exact.get(word), self._beginnings.get(word)]
        # A listed word of _PREFIX_MIN letters or more that begins `word`: its beginnings of
        # that length are looked up among the listed words.
        found += [self._exact.get(word[:end])
                  for end in range(_PREFIX_MIN, min(len(word) - 1, self._longest) + 1)]
        first = min((at for at in found if at is not None), default=None)
        return None if first is None else self.entries[first][1]


@dataclass(frozen=True)
class Lexicon:
    phrases: tuple[tuple[re.Pattern[str], str], ...]
    actions: WordTable   # (listed stem, action)
    topics: WordTable    # (listed stem, topic)
    weak: frozenset[str]
    stop: frozenset[str]
    not_english: frozenset[str]


@cache
def lexicon(path: Path = WORDS_FILE) -> Lexicon:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    phrases = tuple((re.compile(rf"\b{re.escape(fold(k))}\b"), v)
                    for k, v in sorted(data["phrases"].items(), key=lambda kv: -len(kv[0])))

    def table(section: dict[str, list[str]]) -> WordTable:
        return WordTable(tuple((_stem(fold(w)), name)
                               for name, words in section.items() for w in words))

    other = data["other"]
    return Lexicon(phrases=phrases, actions=table(data["actions"]), topics=table(data["topics"]),
                   weak=frozenset(other["weak"]),
                   stop=frozenset(_stem(fold(w)) for w in other["stop"].split()),
                   not_english=frozenset(fold(w) for w in other["not_english"].split()))


@dataclass(frozen=True)
class Reading:
    """What one message asks: its actions and its topics (named, or the folded word);
    `named` are the action and topic names the lexicon gave (English words)."""

    actions: frozenset[str]
    topics: frozenset[str]
    named: tuple[str, ...] = ()

    @property
    def strong_topics(self) -> frozenset[str]:
        return self.topics - lexicon().weak


def read(text: str) -> Reading:
    lex = lexicon()
    folded = fold(text)
    for pattern, replacement in lex.phrases:
        folded = pattern.sub(f" {replacement} ", folded)
    actions: set[str] = set()
    topics: set[str] = set()
    named: list[str] = []
    for token in _TOKEN.findall(folded):
        elided = _ELISION.match(token)
        word = (elided.group(1) if elided else token).replace("’", "'")
        word = _stem(word.removesuffix("'s").split("'")[0] if "'" in word and word not in
                     lex.stop else word)
        if len(word) < 2 or word in lex.stop or word.isdigit():
            continue
        action = lex.actions.name(word)
        if action:
            actions.add(action)
            named.append(action)
            continue
        topic = lex.topics.name(word)
        if topic:
            named.append(topic)
        topics.add(topic or word)
    return Reading(frozenset(actions), frozenset(topics), tuple(dict.fromkeys(named)))


def english_gloss(text: str) -> str:
    """For a German, French or Spanish message, the English names of what it asks, then its
    other content words ("Comment obtenir ma facture en PDF ?" -> "invoice pdf"); "" for English
    or when the lexicon names nothing. The knowledge base is searched with it: the articles
    are English."""
    words = {fold(t) for t in _TOKEN.findall(fold(text))}
    if len(words & lexicon().not_english) < 2:
        return ""
    reading = read(text)
    if not reading.named:
        return ""
    rest = sorted(reading.topics - set(reading.named))
    return " ".join([*reading.named, *rest])


def shared_topics(a: frozenset[str], b: frozenset[str]) -> set[str]:
    """Topics of `a` that `b` names too (a folded word also matches the longer word it begins,
    "contrat" / "contrato")."""
    return {x for x in a if any(_covers(x, y) or _covers(y, x) for y in b)}


def compare(a: str, b: str) -> tuple[Verdict, float]:
    """Whether `a` and `b` ask the same question, by their words (see the module docstring)."""
    ra, rb = read(a), read(b)
    if ra.actions and rb.actions and not ra.actions & rb.actions:
        return "different", 0.0
    if not shared_topics(ra.strong_topics, rb.strong_topics):
        return "unknown", 0.0
    left = " ".join(sorted(ra.actions | ra.topics))
    right = " ".join(sorted(rb.actions | rb.topics))
    return "same", round(fuzz.token_set_ratio(left, right) / 100.0, 3)
