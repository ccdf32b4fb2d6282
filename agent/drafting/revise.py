"""The rep's revise instruction, read the way an offline (template) drafter can follow it:
shorter, longer, mention X, more or less formal, another language. Every part it cannot follow
is kept, word for word, so the draft's note can say so plainly."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agent.language import fold, language_name

_MAX_MENTION_CHARS = 120
_CLAUSES = re.compile(r"[;\n]|,\s+|\.\s+|\s+(?:and|also|then|und|et|y)\s+", re.IGNORECASE)
# "shorter, and mention X": after the comma the connective starts the clause (no space before it)
_LEADING_CONNECTIVE = re.compile(r"^(?:and|then|und|dann|et|puis|y|luego)\s+", re.IGNORECASE)
_SHORTER = ("shorter", "short", "brief", "concise", "trim", "tighten", "fewer words", "cut it",
            "kurzer", "kurz", "plus court", "raccourc", "mas corto", "mas breve", "acorta")
_LONGER = ("longer", "more detail", "expand", "elaborate", "fuller", "flesh out", "langer",
           "ausfuhrlicher", "plus long", "plus detaille", "mas largo", "mas detall")
_INFORMAL = ("informal", "less formal", "casual", "friendlier", "more relaxed", "duzen",
             "tutoie", "tutear", "use du")
_FORMAL = ("formal", "siezen", "vouvoie", "usted", "use sie", "more polite")
_LANGUAGES = {
    "de": ("german", "deutsch", "allemand", "aleman"),
    "fr": ("french", "francais", "franzosisch", "frances"),
    "es": ("spanish", "espanol", "spanisch", "espagnol", "castellano"),
    "en": ("english", "englisch", "anglais", "ingles"),
}
_MENTION = re.compile(
    r"^\s*(?:please\s+)?(?:also\s+)?(?:mention|include|add|refer to|talk about|bring up|"
    r"point out|say|erwahne|erwahnen|mentionne|mentionner|menciona|mencionar)\s+(?:that\s+)?"
    r"(?P<what>.+)$", re.IGNORECASE)


@dataclass
class Revision:
    """What the drafter does with one instruction; `not_followed` are the rep's own words."""

    shorter: bool = False
    longer: bool = False
    formal: bool | None = None
    language: str | None = None
    mentions: list[str] = field(default_factory=list)
    not_followed: list[str] = field(default_factory=list)
    # Understood but without effect on this draft, each with why (e.g. nothing left to cut).
    no_effect: list[str] = field(default_factory=list)

    @property
    def followed(self) -> list[str]:
        done = []
        if self.shorter:
            done.append("made it shorter")
        if self.longer:
            done.append("made it longer")
        if self.formal is not None:
            done.append("more formal" if self.formal else "less formal")
        if self.language:
            done.append(f"wrote it in {language_name(self.language)}")
        done.extend(f"mentioned {m!r}" for m in self.mentions)
        return done


def _mention_text(raw: str) -> str:
    text = " ".join(raw.split()).strip(" .;:\"'")
    text = re.sub(r"[<>`*_~|\[\]{}\\]", " ", text)
    text = " ".join(text.split())
    if len(text) > _MAX_MENTION_CHARS:
        text = text[:_MAX_MENTION_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return text


def _has(folded: str, words: tuple[str, ...]) -> bool:
    return any(re.search(rf"(?<![a-z]){re.escape(w)}", folded) for w in words)


def read_instruction(instruction: str | None) -> Revision:
    """Split the instruction into clauses and read each one; a clause that says nothing this
    drafter can do is listed in `not_followed`."""
    revision = Revision()
    if not instruction or not instruction.strip():
        return revision
    for clause in _CLAUSES.split(instruction[:1000]):
        clause = _LEADING_CONNECTIVE.sub("", clause.strip(" .!"))
        if not clause:
            continue
        mention = _MENTION.match(fold(clause))
        if mention is not None:
            start = len(clause) - len(mention.group("what"))
            what = _mention_text(clause[start:])
            if what:
                revision.mentions.append(what)
                continue
        folded = fold(clause)
        understood = False
        if _has(folded, _SHORTER):
            revision.shorter, revision.longer, understood = True, False, True
        elif _has(folded, _LONGER):
            revision.longer, revision.shorter, understood = True, False, True
        if _has(folded, _INFORMAL):
            revision.formal, understood = False, True
        elif _has(folded, _FORMAL):
            revision.formal, understood = True, True
        for code, names in _LANGUAGES.items():
            if _has(folded, names):
                revision.language, understood = code, True
        if not understood:
            revision.not_followed.append(" ".join(clause.split())[:_MAX_MENTION_CHARS])
    return revision
