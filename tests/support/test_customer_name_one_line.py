"""A customer's name is one line: every character Unicode or mail software reads as a line or
paragraph break is refused with a 422 naming `customer.name` (agent/email_rules.py
`one_line_problem`, the rule a Subject follows too)."""

from __future__ import annotations

import sys
import unicodedata
from typing import Any

import pytest

from agent.email_rules import header_text_problem, one_line_problem
from tests.support.chat import conversation, say

BREAKS = ["\r\n", "\n", "\r", "\u2028", "\u2029", "\u0085", "\x0b", "\x0c", "\x1e"]


@pytest.mark.parametrize("brk", BREAKS, ids=[f"U+{ord(b[-1]):04X}" for b in BREAKS])
def test_a_name_with_a_line_or_paragraph_separator_is_refused_naming_the_field(
        support_client: Any, brk: str) -> None:
    response = support_client.post("/v1/conversations/conv-1/messages", json={
        "text": "hi", "customer": {"email": "ada@acme.io", "name": f"Ada{brk}Bcc: x@evil.test"}})
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == "customer.name"
    assert "one line" in error["message"] and f"U+{ord(brk[0]):04X}" in error["message"]
    assert support_client.get("/v1/conversations/conv-1").status_code == 404  # nothing stored


def test_a_one_line_name_with_other_unicode_is_kept(support_client: Any) -> None:
    say(support_client, "hi", email="ada@acme.io", name="Ada Løvelace-Park 李")
    assert conversation(support_client)["customer"]["name"] == "Ada Løvelace-Park 李"


def test_every_unicode_line_and_paragraph_separator_breaks_a_header_line() -> None:
    separators = [chr(c) for c in range(sys.maxunicode + 1)
                  if unicodedata.category(chr(c)) in ("Zl", "Zp", "Cc")]
    assert "\u2028" in separators and "\u2029" in separators
    for char in separators:
        assert one_line_problem(f"a{char}b") is not None, f"U+{ord(char):04X}"
        assert header_text_problem(f"Subject{char}Bcc: x@evil.test") is not None
    assert one_line_problem("Ada Park\u200b (Acme)") is None  # not a break: the line stays
