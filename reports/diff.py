"""Word-level diffs as HTML, for the eval report's before/after drafts."""

from __future__ import annotations

import difflib
import html
import re


def word_diff_html(old: str | None, new: str | None) -> tuple[str, str]:
    """Two HTML fragments, the old text with deletions marked and the new with insertions.

    Words and the whitespace between them are separate tokens, so a changed sign-off after a
    blank line marks only the sign-off."""
    a = re.findall(r"\S+|\s+", old or "")
    b = re.findall(r"\S+|\s+", new or "")
    left: list[str] = []
    right: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        old_part = "".join(a[i1:i2])
        new_part = "".join(b[j1:j2])
        if op == "equal":
            left.append(html.escape(old_part))
            right.append(html.escape(new_part))
            continue
        for part, out, tag in ((old_part, left, "del"), (new_part, right, "ins")):
            if not part:
                continue
            # Keep surrounding whitespace outside the mark, so blank lines stay unmarked.
            core = part.strip()
            lead = part[:len(part) - len(part.lstrip())]
            trail = part[len(part.rstrip()):]
            out.append(html.escape(lead) + (f"<{tag}>{html.escape(core)}</{tag}>" if core else "")
                       + html.escape(trail))
    return "".join(left), "".join(right)
