"""What "inert" means for a Slack payload, as a test can check it (no tests here).

`HOSTILE` are strings a lead or customer can write. `violations(payload)` walks anything the app
gives Slack (blocks, a view, a `chat.*` call's params) and lists every place where hostile text
is live:

- everywhere (plain_text, mrkdwn, input values): a bidi control, a zero-width or other
  invisible character;
- in mrkdwn (text objects of type mrkdwn and the top-level `text`): any `<…>` token other than
  the app's own (`<@U…>` of a roster member, `<!date^…>`, `<#C…>` of a known channel); an `&`
  that is not one of Slack's three escapes; a hostile formatting, quote, emoji or broadcast
  marker that survived as written; a pre-escaped `&lt;!everyone&gt;` shown unescaped;
- plain_text objects carrying hostile text with emoji parsing on.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

HOSTILE: tuple[str, ...] = (
    "<!channel>",
    "<!here|here>",
    "<@U0ADMIN>",
    "<https://evil.example|click here>",
    "<http://bare.example>",
    "<mailto:boss@evil.example|your boss>",
    "<!subteam^S123|@team>",
    "<#C0GENERAL>",
    "<!date^1700000000^{date}|Jan 1>",
    "*bold* _x_ ~y~ `z`",
    "```block```",
    "\u202eevil",
    "a\u200bb",
    "\u2066isolate\u2069 \u200d\u2060\ufeff\u200c",
    "&lt;!everyone&gt;",
    "&lt;!here&gt;",
    "<<!here>>",
    "> fake quote",
    ":white_check_mark: approved",
    ":+1: :100: approved by your manager",
    "@here @channel",
)
# Every attack in one field (newlines included: a quote needs a line of its own).
HOSTILE_ALL = "\n".join(HOSTILE)

ROSTER_SLACK_IDS = frozenset({"U0REP0001", "U0REP0002", "U0REP0003", "U0REP0004", "U0MGR0001",
                              "U0SUP0001"})

_ALLOWED_TOKEN = re.compile(r"<(?:@(U[A-Z0-9]+)|#([CDG][A-Z0-9]+)|!date\^\d+\^[^|<>]*\|[^<>]*)>")
_TOKEN = re.compile(r"<[^>]*>?")
_BAD_AMP = re.compile(r"&(?!amp;|lt;|gt;)")
_SURVIVING_MARKERS = ("*bold*", "_x_", "~y~", "`z`", "```", ":white_check_mark: approved",
                      ":+1:", ":100:", "@here", "@channel", "&lt;!everyone&gt;")
_QUOTE = re.compile(r"^[ \t]*(?:>|&gt;)[ \t]*fake quote", re.MULTILINE)
_HOSTILE_PLAIN_MARKERS = ("white_check_mark", "*bold*", "evil", "fake quote")


def invisible(text: str) -> list[str]:
    """The invisible or control characters in `text` (newlines allowed)."""
    return [f"U+{ord(ch):04X}" for ch in text if ch != "\n" and (
        unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs")
        or ord(ch) in (0x115F, 0x1160, 0x3164, 0xFFA0, 0x2800))]


def mrkdwn_violations(text: str, channels: Iterable[str] = ()) -> list[str]:
    """Why this mrkdwn text is not inert (empty when it is)."""
    found: list[str] = []
    allowed_channels = set(channels)
    for token in _TOKEN.findall(text):
        match = _ALLOWED_TOKEN.fullmatch(token)
        if match is None:
            found.append(f"live token {token!r}")
        elif match.group(1) and match.group(1) not in ROSTER_SLACK_IDS:
            found.append(f"mention of a non-member {token!r}")
        elif match.group(2) and match.group(2) not in allowed_channels:
            found.append(f"link to an unknown channel {token!r}")
    found += [f"unescaped & at {m.start()}" for m in _BAD_AMP.finditer(text)]
    found += [f"marker {marker!r} survived" for marker in _SURVIVING_MARKERS if marker in text]
    if _QUOTE.search(text):
        found.append("hostile text opened a block quote")
    found += [f"invisible {c}" for c in invisible(text)]
    return found


def violations(payload: Any, *, channels: Iterable[str] = (), top_text: bool = True
               ) -> list[str]:
    """Every non-inert text in `payload` (blocks, a view, a list of them, or a `chat.*` call's
    params, whose `text` is mrkdwn), each with where it was found."""
    channels = tuple(channels)
    found: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            kind = node.get("type")
            text = node.get("text")
            if kind == "mrkdwn" and isinstance(text, str):
                found.extend(f"{path}: {v}" for v in mrkdwn_violations(text, channels))
            elif kind == "plain_text" and isinstance(text, str):
                found.extend(f"{path}: invisible {c}" for c in invisible(text))
                if node.get("emoji", True) and any(m in text for m in _HOSTILE_PLAIN_MARKERS):
                    found.append(f"{path}: hostile plain_text with emoji on")
            for key in ("initial_value", "placeholder_text"):
                if isinstance(node.get(key), str):
                    found.extend(f"{path}.{key}: invisible {c}" for c in invisible(node[key]))
            for key, value in node.items():
                if key == "private_metadata" or key == "value":
                    continue  # never rendered
                if isinstance(value, dict | list):
                    walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{path}[{index}]")

    if isinstance(payload, str):
        return mrkdwn_violations(payload, channels)
    if isinstance(payload, dict) and top_text and isinstance(payload.get("text"), str) and \
            "type" not in payload:
        found.extend(f"text: {v}" for v in mrkdwn_violations(payload["text"], channels))
    walk(payload, "$")
    return found
