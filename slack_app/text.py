"""The one place where text meets Slack's markup: every builder in `slack_app` goes through here.

Lead and customer text (names, company, title, campaign, replies, support messages, CRM fields,
and drafts a model wrote from them) is hostile. Two ways to show it:

- `plain(text)` for `plain_text` objects (headers, draft bodies, modal inputs): Slack parses no
  mentions, links or formatting there, so only invisible characters are removed. Use
  `plain_text(...)`, which also turns emoji parsing off for such text.
- `inert(text)` for `mrkdwn` (section text, context, fields, the top-level `text` that drives
  notifications, thread replies, ephemerals): invisible characters removed, Slack's three
  control characters escaped (`&amp;`, `&lt;`, `&gt;`) so no `<!channel>`, `<@U…>`,
  `<#C…>`, `<!subteam^…>`, `<!date^…>` or `<url|label>` can form, and the formatting characters
  replaced by look-alikes Slack does not parse (mrkdwn has no escape for `*_~\\``), so hostile
  text cannot bold, strike, quote, code-format or emoji-fy itself.

Mentions the app means (`who`, `mention`, `slack_date`) are built here too, from roster ids and
times, never from hostile text. `clip` shortens without cutting an entity or a `<…>` token in
half. `mrkdwn(...)` objects are `verbatim`, so Slack does not auto-link bare URLs or channel
names inside them either.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from typing import Any

SECTION_LIMIT = 3000
# A message's top-level text: Slack cuts at 40,000 characters; a notification shows far less.
TEXT_LIMIT = 3000

# Invisible characters that reorder or hide text (bidi embeddings, overrides, isolates and
# marks; zero-width spaces and joiners; the BOM; Hangul fillers and the braille blank used to
# fake empty names). Unicode's format (Cf), control (Cc), surrogate and private-use categories
# go too, except the newline. (Zero-width joiners go with them: an emoji family falls apart
# into its members, a price worth paying.)
_INVISIBLE = frozenset(
    [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200B, 0x200C, 0x200D, 0x200E, 0x200F,
     0x2060, 0xFEFF, 0x061C, 0x180E, 0x115F, 0x1160, 0x3164, 0xFFA0, 0x2800, 0x00AD, 0x034F])
_DROP_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co"})
_LINE_BREAKS = re.compile(r"\r\n|[\r\u0085\u2028\u2029\v\f]")
# The only ASCII characters `clean` drops: controls (Cc) other than the newline.
_ASCII_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")

# mrkdwn formatting characters and their look-alikes (no compatibility decomposition, so no
# normalisation turns them back): ∗ ASTERISK OPERATOR, ˍ MODIFIER LETTER LOW MACRON,
# ∼ TILDE OPERATOR, ˋ MODIFIER LETTER GRAVE ACCENT.
_FORMATTING = str.maketrans({"*": "\u2217", "_": "\u02cd", "~": "\u223c", "`": "\u02cb"})
# A `>` opening a line is a block quote, escaped or not: › SINGLE RIGHT-POINTING ANGLE QUOTE.
_QUOTE = re.compile(r"(^|\n)([ \t]*)>", re.MULTILINE)
# Broadcast words some clients and `link_names` turn into mentions: ＠ FULLWIDTH COMMERCIAL AT.
_BROADCAST = re.compile(r"@(?=(?:here|channel|everyone)\b)", re.IGNORECASE)
# `:name:` emoji codes (a fake :white_check_mark: "Approved"): ∶ RATIO for the opening colon.
# Codes of digits and signs only are emoji too (:+1:, :-1:, :100:, :1234:), so a time with
# seconds in hostile text shows as 10∶30:45, which reads the same.
_EMOJI = re.compile(r":(?=[a-z0-9_+\-'\u02cd]+:)", re.IGNORECASE)

_SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,}")
_SLACK_CHANNEL = re.compile(r"[CDG][A-Z0-9]{2,}")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]*))?>")


def clean(text: Any) -> str:
    """`text` as a string without invisible or control characters (newlines kept, other line
    breaks made newlines, tabs made spaces). None is the empty string."""
    if text is None:
        return ""
    text = _LINE_BREAKS.sub("\n", str(text)).replace("\t", " ")
    if text.isascii() and not _ASCII_CONTROL.search(text):
        return text  # nothing to drop, and most text is plain ASCII: skip the per-character walk
    return "".join(ch for ch in text if ch == "\n" or (
        ord(ch) not in _INVISIBLE and unicodedata.category(ch) not in _DROP_CATEGORIES))


def one_line(text: Any) -> str:
    """`clean` text for a place that is one line (a name or a company in a heading, a card's
    notification, a DM): every run of whitespace, line breaks included, made one space, so a
    record's field cannot begin a line of its own that reads like ours."""
    return " ".join(clean(text).split())


def plain(text: Any, limit: int | None = None) -> str:
    """Hostile text for a `plain_text` object or a `plain_text_input`'s initial value: cleaned,
    and clipped to `limit` characters when given."""
    out = clean(text)
    return clip(out, limit) if limit is not None else out


def inert(text: Any, limit: int | None = None) -> str:
    """Hostile text for mrkdwn (and the top-level `text`): shown as written, never a mention,
    link, date, emoji or formatting. Clipped to `limit` characters when given."""
    out = clean(text)
    out = _QUOTE.sub(lambda m: f"{m.group(1)}{m.group(2)}\u203a", out)
    out = out.translate(_FORMATTING)
    out = _BROADCAST.sub("\uff20", out)
    out = _EMOJI.sub("\u2236", out)
    out = out.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return clip(out, limit) if limit is not None else out


# Inside a code span Slack applies no formatting; only an edge `_*~` could still pair with one
# outside the span, so only those (and every backtick, which would close it) are replaced.
_EDGE_FORMATTING = re.compile(r"(?<![A-Za-z0-9])[_*~]|[_*~](?![A-Za-z0-9])")


def code(value: Any) -> str:
    """Text as inline code (a route, a reason code, an id, a command to copy): shown as it is,
    `snake_case` included, yet nothing in it can close the span, mention, link or format."""
    text = clean(value).replace("\n", " ").replace("`", "\u02cb")
    text = _EDGE_FORMATTING.sub(lambda m: m.group(0).translate(_FORMATTING), text)
    text = _EMOJI.sub("\u2236", _BROADCAST.sub("\uff20", text))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f"`{text}`"


def clip(text: str, limit: int) -> str:
    """`text` in at most `limit` characters, ending in "…" when shortened. Never cuts inside an
    escape (`&amp;`) or a Slack token (`<@U…>`, `<!date^…>`), which would leave a broken one."""
    if len(text) <= limit:
        return text
    return text[:_safe_cut(text, max(limit - 1, 0))].rstrip() + "…"


def _safe_cut(text: str, cut: int) -> int:
    """`cut`, or an earlier position when it falls inside an escape or a `<…>` token."""
    amp = text.rfind("&", max(cut - 5, 0), cut)
    if amp != -1 and ";" not in text[amp:cut]:
        cut = amp
    lt = text.rfind("<", 0, cut)
    if lt != -1 and ">" not in text[lt:cut]:
        cut = lt
    return cut


# -- text objects ------------------------------------------------------------------------------

def mrkdwn(text: str, limit: int = SECTION_LIMIT) -> dict[str, Any]:
    """A `mrkdwn` text object of text already built from `inert` parts and our own markup."""
    return {"type": "mrkdwn", "text": clip(text, limit) or " ", "verbatim": True}


def plain_text(text: Any, limit: int = 75, *, emoji: bool = False) -> dict[str, Any]:
    """A `plain_text` object. Emoji codes stay literal unless `emoji` (only for our own words)."""
    return {"type": "plain_text", "text": plain(text, limit) or " ", "emoji": emoji}


def section(text: str) -> dict[str, Any]:
    """A section of mrkdwn built from `inert` parts."""
    return {"type": "section", "text": mrkdwn(text)}


# Slack shows at most 50 blocks in a message.
MESSAGE_BLOCKS = 50


def text_blocks(text: str) -> list[dict[str, Any]]:
    """A message given as text alone (built from `inert` parts), as the blocks that show it:
    verbatim sections, so Slack does not auto-link a URL or a channel name the text quotes (a
    top-level `text` has no `verbatim` switch). The text itself stays the notification."""
    chunks, _ = split_text(text, SECTION_LIMIT, mrkdwn=True)
    return [section(chunk) for chunk in chunks[:MESSAGE_BLOCKS] if chunk.strip()]


def plain_section(text: Any) -> dict[str, Any]:
    """A section showing hostile text exactly as written (no markup at all)."""
    return {"type": "section", "text": plain_text(text, SECTION_LIMIT)}


def context(*texts: str) -> dict[str, Any]:
    """A context block of mrkdwn elements built from `inert` parts (Slack allows 10)."""
    return {"type": "context", "elements": [mrkdwn(t) for t in texts[:10]]}


# -- what the app itself means ---------------------------------------------------------------

def mention(slack_id: str | None) -> str | None:
    """`<@U…>` for a Slack user id, None for anything else."""
    return f"<@{slack_id}>" if slack_id and _SLACK_USER.fullmatch(slack_id) else None


def channel_link(channel: str | None) -> str | None:
    """`<#C…>` for a Slack channel id, None for anything else."""
    return f"<#{channel}>" if channel and _SLACK_CHANNEL.fullmatch(channel) else None


def who(key: str | None) -> str:
    """A roster key as Slack shows it: a mention for a Slack user id, else the inert text."""
    if not key:
        return "someone"
    return mention(key) or inert(key)


def slack_date(at: datetime | None, fmt: str = "{date_short_pretty} {time}") -> str:
    """A date every reader sees in their own time zone, with a UTC fallback for old clients."""
    if at is None:
        return "unknown time"
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    fallback = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(at.timestamp())}^{fmt}|{fallback}>"


def duration(seconds: float) -> str:
    """`3h 05m`, `2d 4h`, `12m`: short and readable."""
    minutes = int(abs(seconds) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {mins:02d}m"
    return f"{mins}m"


def split_text(text: str, limit: int, *, mrkdwn: bool = False
               ) -> tuple[list[str], list[str]]:
    """Split long text into chunks of at most `limit` characters at paragraph, line or word
    boundaries (for `mrkdwn` text, never inside an escape or a `<…>` token). Returns the chunks
    and the whitespace removed between them, so `chunks[0] + joiners[0] + chunks[1] + ...` is
    exactly the input."""
    chunks: list[str] = []
    joiners: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = -1
        for sep in ("\n\n", "\n", " "):
            cut = rest.rfind(sep, 0, limit + 1)
            if cut > limit // 3:
                break
        if cut <= 0:
            cut = limit
        if mrkdwn:
            cut = _safe_cut(rest, cut) or limit
        chunk, tail = rest[:cut], rest[cut:]
        stripped = tail.lstrip(" \n")
        chunks.append(chunk)
        joiners.append(tail[: len(tail) - len(stripped)])
        rest = stripped
    chunks.append(rest)
    return chunks, joiners


# -- the other direction -----------------------------------------------------------------------

def message_text(text: str) -> str:
    """What a person typed, from a message event's mrkdwn: links back to `label (url)`, and
    Slack's three escaped characters restored."""

    def link(match: re.Match[str]) -> str:
        url, label = match.group(1), match.group(2)
        if url.startswith("mailto:"):
            return label or url.removeprefix("mailto:")
        return f"{label} ({url})" if label and label != url else url

    text = _LINK.sub(link, text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
