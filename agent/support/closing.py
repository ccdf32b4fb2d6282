"""A customer closing a conversation the bot answered ("thanks, that solved it"): read offline.

Narrow on purpose: a plain "thanks!" keeps the conversation open (customers thank and go on
asking); only words that say the problem is solved close it. English and French.
"""

from __future__ import annotations

import re

_SOLVED = re.compile(
    r"\b(?:that|this|it|which)(?:'s| has| have| is)?\s+(?:worked|works|helped|helps|solved|"
    r"fixed|answered|sorted)\b"
    r"|\b(?:problem|issue|all|question)\s+(?:is\s+)?(?:solved|sorted|fixed|resolved|answered)\b"
    r"|\bthat'?s\s+all\s+i\s+needed\b|\bthat\s+is\s+all\s+i\s+needed\b"
    r"|\bc'?est\s+(?:réglé|regle|résolu|resolu|bon)\b|\bça\s+(?:marche|fonctionne)\b"
    r"|\bproblème\s+résolu\b",
    re.IGNORECASE)
_STILL = re.compile(r"\b(?:not|n't|but|still|pas|mais|encore)\b", re.IGNORECASE)


def says_solved(text: str) -> bool:
    """Whether the customer says their problem is solved (and adds no "but", "not", "still")."""
    return bool(_SOLVED.search(text)) and not _STILL.search(text)
