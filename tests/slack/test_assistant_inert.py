"""Lead text quoted in the assistant's answers is inert wherever it lands: the streamed markdown,
the posted answer, its sources, its proposals, and the answer updated after a decision. No
live mention, broadcast, link (mrkdwn `<…>` or markdown `[…](…)` / bare URL), formatting or
invisible character comes from it."""

from __future__ import annotations

import re

import pytest
from slack_sdk.models.blocks import Block

from service.assistant_models import AssistantReply, Citation, Proposal
from slack_app.assistant.blocks import answer_blocks, markdown_inert, stream_chunks
from tests.fake_slack import wait_until
from tests.slack.assistant_fakes import REP, FakeBrain, answer, click, dm_event, install_brain
from tests.slack_oracle import HOSTILE, HOSTILE_ALL, mrkdwn_violations, violations

# What makes a link in markdown (streamed answers), beyond mrkdwn's `<…>`: `[…](…)`, a scheme,
# `www.`, an address (GitHub-flavoured autolinks) and a bare domain of any ending (Slack's
# clients): here, any dot between a word character and a letter, whatever the list of endings.
_MARKDOWN_LINK = re.compile(
    r"\]\s*\(|\[[^\]]*\]|(?:https?|mailto|ftp)://|www\.|[\w.+-]@[\w-]|\w\.[^\W\d_]", re.I)
_BARE_LINKS = ("Write to ceo@evil.example, or log in at evil.com/login (acme.io, "
               "wiki.evil.co.uk, evil.support/login, EVIL.RU/x, see...login.okta.cfd)")


@pytest.fixture
def brain(monkeypatch: pytest.MonkeyPatch) -> FakeBrain:
    hostile = install_brain(monkeypatch)
    hostile.reply_kwargs.update(
        text=f"Why Acme is hot:\n{HOSTILE_ALL}\n[click me](https://evil.example) www.evil.example"
             f"\n{_BARE_LINKS}",
        name=f"Ada {HOSTILE_ALL}", signal=f"form_submit {HOSTILE_ALL}",
        description=f"Snooze {HOSTILE_ALL} [x](http://evil.example)")
    return hostile


def markdown_violations(text: str) -> list[str]:
    found = mrkdwn_violations(text)
    found += [f"markdown link {m.group(0)!r}" for m in _MARKDOWN_LINK.finditer(text)]
    found += [f"heading at {m.start()}" for m in re.finditer(r"(?m)^\s*#", text)]
    return found


def test_the_streamed_answer_is_inert(slack, fake_slack, brain: FakeBrain) -> None:  # type: ignore[no-untyped-def]
    slack.event(dm_event(slack, "Why is Acme hot?"))
    message = answer(fake_slack)
    for call in fake_slack.calls():
        if call.method in ("chat.startStream", "chat.appendStream", "chat.stopStream"):
            assert markdown_violations(call.params.get("markdown_text") or "") == []
            assert violations(call.params.get("blocks") or []) == []
    assert markdown_violations(message["text"]) == []
    assert violations(message["blocks"]) == []
    # Shown, not executed: the words are still there for the rep to read (a domain's dots as
    # look-alikes).
    assert "evil\u2024example" in message["text"] and "click me" in message["text"]
    assert "ceo\uff20evil\u2024example" in message["text"]


def test_the_posted_answer_is_inert(slack, fake_slack, brain: FakeBrain) -> None:  # type: ignore[no-untyped-def]
    fake_slack.stream_error = "unknown_method"
    slack.event(dm_event(slack, "Why is Acme hot?"))
    message = answer(fake_slack)
    [posted] = fake_slack.calls("chat.postMessage")
    assert violations(posted.params) == []
    assert violations(message["blocks"]) == []


def test_the_answer_after_a_decision_is_inert(slack, fake_slack, worker,  # type: ignore[no-untyped-def]
                                              brain: FakeBrain) -> None:
    slack.event(dm_event(slack, "Why is Acme hot?"))
    message = answer(fake_slack)
    click(slack, message, "Approve", REP)
    [update] = wait_until(lambda: fake_slack.calls("chat.update"))
    assert violations(update.params["blocks"]) == []
    assert markdown_violations(update.params["text"]) == []


@pytest.mark.parametrize("attack", HOSTILE)
def test_markdown_inert_defuses_each_attack(attack: str) -> None:
    text = markdown_inert(f"Lead says: {attack} [a](https://evil.example/x) # head")
    assert markdown_violations(text) == []
    assert "".join(stream_chunks(text, 7)) == text


def test_every_block_is_valid_block_kit_with_hostile_text() -> None:
    long = (HOSTILE_ALL + "\n\n") * 60  # far over one section
    reply = AssistantReply(
        reply_id="r1", conversation_key="D1:1", text=long,
        citations=[Citation(lead_id=f"l{i}", name=long, signals=[long] * 8) for i in range(12)],
        proposals=[Proposal(proposal_id=f"p{i}", action="snooze", args={}, description=long)
                   for i in range(12)])
    blocks = answer_blocks(reply)
    assert len(blocks) <= 50
    assert violations(blocks) == []
    for block in blocks:
        parsed = Block.parse(block)
        assert parsed is not None
        parsed.validate_json()


def test_markdown_inert_defuses_addresses_and_bare_domains() -> None:
    """GitHub-flavoured markdown links an address, and Slack's clients a bare `name.tld` of any
    ending: both are shown with look-alikes (＠, ․) that read the same and link nothing. A file
    name reads the same with them; a decimal keeps its dot."""
    text = markdown_inert(f"{_BARE_LINKS}. See report.pdf, 3.5 seats.")
    assert markdown_violations(text) == []
    assert text == (
        "Write to ceo\uff20evil\u2024example, or log in at evil\u2024com/login (acme\u2024io, "
        "wiki\u2024evil\u2024co\u2024uk, evil\u2024support/login, EVIL\u2024RU/x, "
        "see...login\u2024okta\u2024cfd). See report\u2024pdf, 3.5 seats.")
