"""The log format of `hitl serve` and its worker children: one record, one line.

A message may quote hostile text (a lead's field, a customer's words, a header a CRM sent): a
line break in it would start a line of its own that a reader, or a log shipper, takes for a
record we wrote ("...\n2026-12-04 10:00:00 ERROR payment failed"). The formatter escapes
line breaks and other control characters in the message, as `\\n` and `\\x1b`; a traceback
appended after the message is ours and keeps its lines.

A line never holds an email address either: it becomes `‹email›`, in the message and in a
traceback. Logs are shipped, kept for months and out of reach of erasure (`DELETE
/v1/customers/{email}` would otherwise write the address it erases into the access log), and
the records that matter name a lead, an approval or an outbox row by id.
"""

from __future__ import annotations

import logging
import re

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


# An address as a log line may carry it: plain, or percent-encoded in a request line's path or
# query ("jane%40acme.com", as uvicorn's access log quotes a path).
# Linear in the line's length whatever it holds (a request line is the client's to write): a
# match starts only where a local part starts (the lookbehind), the runs are possessive (no
# backtracking into them), and whether the domain ends in a top-level name is checked after.
_EMAIL_ADDRESS = re.compile(
    r"(?<![A-Za-z0-9._+-])[A-Za-z0-9._+-]++(?:@|%40)([A-Za-z0-9-]++(?:\.[A-Za-z0-9-]++)*+)",
    re.IGNORECASE)
_TOP_LEVEL = re.compile(r"\.[A-Za-z]{2,}$")
REDACTED_EMAIL = "‹email›"


def _redacted(match: re.Match[str]) -> str:
    return REDACTED_EMAIL if _TOP_LEVEL.search(match.group(1)) else match.group(0)


def redact_email_addresses(text: str) -> str:
    """`text` with every email address replaced by `‹email›`."""
    return _EMAIL_ADDRESS.sub(_redacted, text) if "@" in text or "%40" in text else text


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def escape_controls(message: str) -> str:
    """`message` with every control character and line separator written as an escape."""
    return _UNSAFE.sub(_escape, message)


class OneLineFormatter(logging.Formatter):
    """`logging.Formatter` whose records' messages cannot break the line and whose lines hold
    no email address (module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_email_addresses(super().format(record))

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        message = record.message
        record.message = escape_controls(message)
        try:
            return super().formatMessage(record)
        finally:
            record.message = message


# Libraries whose INFO records are not news: httpx logs every request it sends with its whole
# URL (two lines a lead, the model's and Slack's; a CRM lookup's URL holds the lead's address),
# alembic each of its plugins at every start. Their warnings and errors still show.
CHATTY_LOGGERS = ("httpx", "alembic.runtime.plugins")


def configure_logging(level: int = logging.INFO) -> None:
    """The root logger writes one line per record to stderr, as `logging.basicConfig` would.

    Every process of `hitl serve` calls it first, the web process included, whose uvicorn then
    logs through it (`log_config=None`): its access lines are formatted like the rest."""
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter(FORMAT))
    logging.basicConfig(level=level, handlers=[handler])
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
