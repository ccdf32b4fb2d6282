"""Text from outside (lead and customer fields, drafts, notes) as it may reach a terminal:
control and format characters (ESC sequences, bidi overrides, line breaks in one-line fields)
are shown escaped, never interpreted by the terminal."""

from __future__ import annotations

from typing import Any


def plain(value: Any, *, keep_newlines: bool = False) -> str:
    if value is None:
        return "-"
    text = str(value)
    return "".join(ch if ch.isprintable() or (keep_newlines and ch == "\n")
                   else f"\\u{ord(ch):04x}" for ch in text)
