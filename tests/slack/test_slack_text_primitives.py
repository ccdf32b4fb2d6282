"""The escaping primitives in `slack_app.text`, on their own: `inert` escapes exactly what Slack
asks and leaves no live markup, `plain` drops invisibles, `clip` never cuts an escape, and only
real Slack ids become mentions. (Every builder's output is walked in test_slack_inert_text.py.)"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from slack_app import text
from tests.slack_oracle import HOSTILE, HOSTILE_ALL, invisible, mrkdwn_violations

NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)
STRINGS = (*HOSTILE, HOSTILE_ALL)


@pytest.mark.parametrize("hostile", STRINGS)
def test_inert_leaves_no_live_markup(hostile: str) -> None:
    assert mrkdwn_violations(text.inert(hostile)) == []
    assert invisible(text.plain(hostile)) == []


def test_inert_escapes_exactly_what_slack_asks() -> None:
    assert text.inert("a & b < c > d") == "a &amp; b &lt; c &gt; d"
    assert text.inert("&lt;!here&gt;") == "&amp;lt;!here&amp;gt;"  # shown as typed, not decoded
    assert text.inert("<<!here>>") == "&lt;&lt;!here&gt;&gt;"
    assert text.inert("*b* _i_ ~s~ `c`") == "\u2217b\u2217 \u02cdi\u02cd \u223cs\u223c \u02cbc\u02cb"
    assert text.inert("> q\n  >> r\nmid > x") == "\u203a q\n  \u203a&gt; r\nmid &gt; x"
    assert text.inert(":tada: at 10:30") == "\u2236tada: at 10:30"
    assert text.inert("@here @Channel ada@acme.io") == "\uff20here \uff20Channel ada@acme.io"
    assert text.inert("\u202eevil\u2066x\u2069 a\u200bb\ufeff\u00ad") == "evilx ab"
    assert text.inert("line\r\nbreak\u2028tab\tend\x00\x1b") == "line\nbreak\ntab end"
    assert text.inert(None) == ""


def test_plain_keeps_markup_but_drops_invisibles() -> None:
    assert text.plain("<!channel> *b*\u202e\u200b") == "<!channel> *b*"
    assert text.plain("x" * 100, 10) == "x" * 9 + "…"
    assert text.plain_text(":tada:")["emoji"] is False


def test_clip_never_cuts_an_escape_or_a_token() -> None:
    escaped = text.inert("ab<<<<")  # ab&lt;&lt;&lt;&lt;
    for limit in range(3, len(escaped)):
        clipped = text.clip(escaped, limit)
        assert len(clipped) <= limit
        assert mrkdwn_violations(clipped) == [], (limit, clipped)
    dated = "due " + text.slack_date(NOW)
    for limit in range(5, len(dated)):
        assert "<" not in text.clip(dated, limit)


def test_code_shows_identifiers_as_they_are_and_nothing_else() -> None:
    assert text.code("hand_raise") == "`hand_raise`"
    assert text.code("_x_") == "`\u02cdx\u02cd`"
    assert text.code("hitl outbox retry ob_1") == "`hitl outbox retry ob_1`"
    assert text.code("a`<!here>`b") == "`a\u02cb&lt;!here&gt;\u02cbb`"


def test_mentions_only_for_ids() -> None:
    assert text.who("U0REP0001") == "<@U0REP0001>"
    assert text.who("riley_rep@example.com") == "riley\u02cdrep@example.com"
    assert text.who("<@U0ADMIN>") == "&lt;@U0ADMIN&gt;"
    assert text.mention("U0ADMIN>|x") is None and text.channel_link("C1<!here>") is None


@pytest.mark.parametrize("code", [":+1:", ":-1:", ":100:", ":1234:", ":+1::skin-tone-2:"])
def test_no_emoji_code_survives_digits_and_signs_included(code: str) -> None:
    shown = text.inert(f"Acme {code} approved")
    assert ":+1:" not in shown and ":-1:" not in shown and ":100:" not in shown
    assert ":1234:" not in shown and ":skin-tone-2:" not in shown
    assert shown.replace("\u2236", ":") == f"Acme {code} approved"  # reads the same


def test_one_line_makes_every_line_break_one_space() -> None:
    assert text.one_line("Acme\n:+1: Approved by\r\nyour\u2028manager\t ") == \
        "Acme :+1: Approved by your manager"
    assert text.one_line(None) == ""
