"""Lead-supplied text made safe to show: control and format characters out, one line, bounded.

Names, titles, URLs, reply text and ticket subjects are hostile; everything the package shows of
them passes through `clean_text` (and a reply through `reply_snippet` first).
"""

from __future__ import annotations

import re
import unicodedata

REPLY_SNIPPET_CHARS = 140
URL_CHARS = 120
SHORT_CHARS = 60
SUBJECT_CHARS = 80
# Never look at more of one lead-supplied string than this: bounds the work on hostile input.
SCAN_CHARS = 4000

_QUOTE_MARKS = str.maketrans("", "", "\"“”„«»`")
_REPLY_HEADER = re.compile(
    r"^(on .{0,200} wrote:?|-{2,}\s*original message\s*-{2,}|from:\s.*|sent from my .*)$",
    re.IGNORECASE,
)


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def clean_text(value: object, limit: int) -> str:
    """One line of at most `limit` characters: control and format characters removed."""
    if value is None:
        return ""
    text = str(value)[: max(limit * 4, 64)]
    text = "".join(
        " " if unicodedata.category(ch).startswith(("C", "Z")) else ch for ch in text
    )
    return _truncate(" ".join(text.split()), limit)


def reply_snippet(text: object, limit: int = REPLY_SNIPPET_CHARS) -> str:
    """The start of an inbound reply: quoted history and quote marks dropped, one line."""
    lines: list[str] = []
    for raw in str(text or "")[:SCAN_CHARS].splitlines():
        line = raw.strip()
        if line.startswith(">"):
            continue
        if _REPLY_HEADER.match(line):
            break
        lines.append(line)
    return clean_text(" ".join(lines).translate(_QUOTE_MARKS), limit)

