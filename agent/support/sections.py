"""Help-article sections for the offline answer: which section of the best article answers the
question, and its steps (the numbered or bulleted list under its heading), so the customer
gets the steps themselves, not the section's first sentence.

Pure functions: the sections and their embedding similarities are handed in (the service reads
them from the knowledge base).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from agent.support.paraphrase import Reading, read, shared_topics

_ITEM = re.compile(r"^\s*(?:(\d{1,2})[.)]|[-*•])\s+(.*)$")
# Weights of the section choice (cosine similarities are about 0..0.5 offline).
HEADING_TOPIC = 0.15     # per topic the question and the heading share
TEXT_TOPIC = 0.05        # per topic shared with the text (at most three count)
ACTION_MATCH = 0.1       # the heading or the text names the question's action
ACTION_CONFLICT = 0.1    # the heading names another action ("Invite" for "change a role")
HAS_STEPS = 0.1          # a section with steps answers a "how do I" better than prose
KB_CHOICE = 0.02         # the knowledge base's own pick wins a tie


@dataclass(frozen=True)
class SectionParts:
    """A section split into its lead-in paragraphs, its steps, and what follows the list."""

    intro: list[str]
    steps: list[str]
    numbered: bool
    outro: list[str]


def split_steps(text: str) -> SectionParts:
    """Paragraphs before the first list, the list items (a wrapped item's lines joined; the
    first list only), and the paragraphs after it."""
    intro: list[str] = []
    steps: list[str] = []
    outro: list[str] = []
    numbered = False
    current: list[str] = []
    in_list = False
    done = False

    def flush(into: list[str]) -> None:
        if current:
            into.append(" ".join(current))
            current.clear()

    for raw in text.splitlines():
        line = raw.strip()
        item = _ITEM.match(raw)
        if item and not done:
            flush(steps if in_list else intro)
            in_list = True
            numbered = numbered or item.group(1) is not None
            current.append(item.group(2).strip())
        elif not line:
            if in_list:
                flush(steps)
                in_list, done = False, True
            else:
                flush(outro if done else intro)
        else:
            current.append(line)  # a paragraph line, or the wrapped rest of a list item
    flush(steps if in_list else (outro if done else intro))
    return SectionParts(intro=intro, steps=steps, numbered=numbered, outro=outro)


def _section_score(question: Reading, heading: str, text: str, similarity: float) -> float:
    head = read(heading)
    body = read(text)
    score = similarity
    score += HEADING_TOPIC * len(shared_topics(question.strong_topics, head.strong_topics))
    score += TEXT_TOPIC * min(3, len(shared_topics(question.strong_topics, body.strong_topics)))
    if question.actions & (head.actions | body.actions):
        score += ACTION_MATCH
    if question.actions and head.actions and not question.actions & head.actions:
        score -= ACTION_CONFLICT
    if split_steps(text).steps:
        score += HAS_STEPS
    return score


def choose_section(question: str, sections: Sequence[tuple[str | None, str]],
                   similarities: Sequence[float], *, kb_choice: int | None = None) -> int:
    """The index of the section (heading, text) that answers `question` best: the embedding
    similarity (`similarities`, one per section) plus the words the question shares with the
    heading and the text, a bonus for steps, and the knowledge base's own pick on a tie. The
    untitled lead-in of an article (before its first heading) is only chosen when nothing else
    is there or it has steps of its own."""
    if not sections:
        raise ValueError("no sections to choose from")
    reading = read(question)
    best, best_score = 0, float("-inf")
    headed = any(heading for heading, _ in sections)
    for i, ((heading, text), similarity) in enumerate(zip(sections, similarities, strict=True)):
        if headed and not heading and not split_steps(text).steps:
            continue
        score = _section_score(reading, heading or "", text, similarity)
        if i == kb_choice:
            score += KB_CHOICE
        if score > best_score:
            best, best_score = i, score
    return best
