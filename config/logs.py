"""The log format of `hitl serve` and its worker children: one record, one line.

A message may quote hostile text (a lead's field, a customer's words, a header a CRM sent): a
line break in it would start a line of its own that a reader, or a log shipper, takes for a
record we wrote ("...\n2026-12-04 10:00:00 ERROR payment failed"). The formatter escapes
line breaks and other control characters in the message, as `\\n` and `\\x1b`; a traceback
appended after the message is ours and keeps its lines.
"""

from __future__ import annotations

import logging
import re

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def escape_controls(message: str) -> str:
    """`message` with every control character and line separator written as an escape."""
    return _UNSAFE.sub(_escape, message)


class OneLineFormatter(logging.Formatter):
    """`logging.Formatter` whose records' messages cannot break the line (module docstring)."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        message = record.message
        record.message = escape_controls(message)
        try:
            return super().formatMessage(record)
        finally:
            record.message = message


def configure_logging(level: int = logging.INFO) -> None:
    """The root logger writes one line per record to stderr, as `logging.basicConfig` would."""
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter(FORMAT))
    logging.basicConfig(level=level, handlers=[handler])
