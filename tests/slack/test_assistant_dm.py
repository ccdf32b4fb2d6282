"""A rep's DM to the app is a conversation with the assistant: signed `message.im` events in,
the "thinking" status first, then the answer streamed (or posted whole where Slack does not
stream), with its citations, proposals and feedback buttons. Strangers get a refusal only."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from sqlalchemy import select

from service.approvals import get_approval
from slack_app.store import get_card
from store.tables import Job, SlackMessageLog
from tests.fake_slack import SlackSide, buttons, wait_until
from tests.flow import pending_card
from tests.slack.assistant_fakes import (
    DM,
    REP,
    STRANGER,
    THREAD,
    FakeBrain,
    answer,
    dm_event,
    install_brain,
    order,
)

ANSWER_CALLS = ("assistant.threads.setStatus", "chat.startStream", "chat.appendStream",
                "chat.stopStream", "chat.postMessage")


@pytest.fixture
def brain(monkeypatch: pytest.MonkeyPatch) -> FakeBrain:
    return install_brain(monkeypatch)


def _valid(blocks: list[dict[str, Any]]) -> None:
    for block in blocks:
        parsed = Block.parse(block)
        assert parsed is not None, block
        parsed.validate_json()


def test_a_dm_is_answered_by_streaming_after_the_thinking_status(  # type: ignore[no-untyped-def]
        slack, fake_slack, brain: FakeBrain) -> None:
    response = slack.event(dm_event(slack, "What's on my plate? &lt;3"))
    assert response.status_code == 200

    message = answer(fake_slack)
    assert brain.asks == [(REP, f"{DM}:{THREAD}", "What's on my plate? <3")]
    assert order(fake_slack, *ANSWER_CALLS) == [
        "assistant.threads.setStatus", "chat.startStream", "chat.stopStream"]
    [status] = fake_slack.calls("assistant.threads.setStatus")
    assert status.params["channel_id"] == DM and status.params["thread_ts"] == THREAD
    assert status.params["status"]
    [start] = fake_slack.calls("chat.startStream")
    assert start.params["thread_ts"] == THREAD and start.params["recipient_user_id"] == REP
    # The streamed markdown is the answer; the blocks after it: sources, proposal, feedback.
    assert message["thread_ts"] == THREAD
    assert message["text"] == "You have 2 open approvals; Acme is due in 3h."
    kinds = [(b["type"], b.get("block_id")) for b in message["blocks"]]
    assert kinds == [("context", "asst_citations"), ("section", "asst_prop_p1"),
                     ("actions", "asst_act_p1"), ("context_actions", "asst_feedback")]
    assert buttons(message["blocks"]) == ["Approve", "Reject"]
    assert "Ada Park (Acme)" in message["blocks"][0]["elements"][0]["text"]
    _valid(message["blocks"])


def test_a_streamed_answer_is_logged_under_its_lead_for_erasure(  # type: ignore[no-untyped-def]
        slack, fake_slack, rt, brain: FakeBrain) -> None:
    slack.event(dm_event(slack, "Why is Acme hot?"))
    message = answer(fake_slack)
    with rt.db.read() as session:
        logged = session.execute(select(SlackMessageLog.lead_id, SlackMessageLog.thread_ts)
                                 .where(SlackMessageLog.channel == DM,
                                        SlackMessageLog.ts == message["ts"])).one()
    assert tuple(logged) == ("lead-1", THREAD)


def test_a_reply_under_an_approval_card_is_not_a_question_for_the_assistant(  # type: ignore[no-untyped-def]
        client, worker, rt, fake_slack, slack, brain: FakeBrain) -> None:
    card = pending_card(client, worker)
    location = get_card(rt, card["approval_id"])
    assert location is not None and location.channel.startswith("D")
    slack.reply(location.channel, location.thread_ts, REP, "make it warmer")
    wait_until(lambda: get_approval(rt, card["approval_id"])["status"] == "revised")
    worker.run_until_idle()
    assert brain.asks == []
    assert fake_slack.calls("assistant.threads.setStatus") == []


def test_a_long_answer_streams_in_pieces(slack, fake_slack, brain: FakeBrain) -> None:  # type: ignore[no-untyped-def]
    text = " ".join(f"Lead {i} is waiting on you." for i in range(120))
    brain.reply_kwargs["text"] = text
    slack.event(dm_event(slack, "what's on my plate"))
    message = answer(fake_slack)
    appended = fake_slack.calls("chat.appendStream")
    assert len(appended) >= 2
    assert message["text"] == text  # the pieces add up to the whole answer


@pytest.mark.parametrize("error", ["unknown_method", "not_allowed"])
def test_without_streaming_the_answer_is_posted_whole(  # type: ignore[no-untyped-def]
        slack, fake_slack, brain: FakeBrain, error: str) -> None:
    fake_slack.stream_error = error
    slack.event(dm_event(slack, "How am I doing on SLAs this week?"))
    message = answer(fake_slack)
    assert order(fake_slack, *ANSWER_CALLS) == [
        "assistant.threads.setStatus", "chat.startStream", "chat.postMessage"]
    assert message["thread_ts"] == THREAD
    assert message["text"] == "You have 2 open approvals; Acme is due in 3h."
    kinds = [b.get("block_id") for b in message["blocks"]]
    assert kinds == ["asst_text_0", "asst_citations", "asst_prop_p1", "asst_act_p1",
                     "asst_feedback"]
    assert message["blocks"][0]["text"]["text"] == (
        "You have 2 open approvals; Acme is due in 3h.")
    assert len(brain.asks) == 1
    _valid(message["blocks"])


def test_a_top_level_dm_starts_a_conversation_in_its_own_thread(  # type: ignore[no-untyped-def]
        slack, fake_slack, brain: FakeBrain) -> None:
    event = dm_event(slack, "what's on my plate", thread_ts=None)
    slack.event(event)
    message = answer(fake_slack)
    assert message["thread_ts"] == event["ts"]
    assert brain.asks[0][1] == f"{DM}:{event['ts']}"


def test_a_stranger_gets_a_polite_refusal_and_nothing_else(  # type: ignore[no-untyped-def]
        slack, fake_slack, worker, brain: FakeBrain) -> None:
    channel = "D0STRANGR"
    slack.event(dm_event(slack, "Why is Acme hot?", user=STRANGER, channel=channel))
    [refusal] = fake_slack.wait_for("chat.postMessage")
    worker.run_until_idle()
    assert refusal.params["channel"] == channel and refusal.params["thread_ts"] == THREAD
    assert "roster" in refusal.params["text"]
    assert "Acme" not in refusal.params["text"]
    assert brain.asks == []
    assert fake_slack.calls("chat.startStream") == []
    assert len(fake_slack.calls("chat.postMessage")) == 1


def test_a_retried_delivery_is_answered_once(slack, fake_slack, worker,  # type: ignore[no-untyped-def]
                                             brain: FakeBrain) -> None:
    event = dm_event(slack, "what's on my plate")
    assert slack.event(event, event_id="Ev0A1").status_code == 200
    for attempt in (1, 2):
        assert slack.event(event, event_id="Ev0A1", headers={
            "X-Slack-Retry-Num": str(attempt), "X-Slack-Retry-Reason": "http_timeout"}
        ).status_code == 200
    answer(fake_slack)
    worker.run_until_idle()
    assert len(brain.asks) == 1
    assert len(fake_slack.calls("chat.startStream")) == 1


def test_the_question_is_on_disk_before_slack_gets_its_answer(  # type: ignore[no-untyped-def]
        client, rt, worker, fake_slack, brain: FakeBrain) -> None:
    # No worker running: what the web process acknowledged must wait on disk for one.
    slack = SlackSide(client)
    assert slack.event(dm_event(slack, "what's on my plate")).status_code == 200
    with rt.db.read() as session:
        kinds = list(session.scalars(select(Job.kind)))
    assert kinds == ["slack_assistant_ask"]
    assert brain.asks == [] and fake_slack.calls("chat.startStream") == []
    worker.run_until_idle()  # e.g. a worker started after the web process died
    assert len(brain.asks) == 1
    answer(fake_slack)


def test_bot_messages_and_edits_are_not_questions(slack, fake_slack, worker,  # type: ignore[no-untyped-def]
                                                  brain: FakeBrain) -> None:
    edit = {**dm_event(slack, "edited"), "subtype": "message_changed"}
    own = {**dm_event(slack, "an answer"), "bot_id": "B0OTHER01"}
    for event in (edit, own):
        assert slack.event(event).status_code == 200
    worker.run_until_idle()
    assert brain.asks == []
    assert fake_slack.calls("assistant.threads.setStatus") == []


def test_a_new_assistant_thread_gets_the_suggested_prompts(  # type: ignore[no-untyped-def]
        slack, fake_slack) -> None:
    response = slack.event({"type": "assistant_thread_started", "assistant_thread": {
        "user_id": REP, "context": {}, "channel_id": DM, "thread_ts": THREAD}})
    assert response.status_code == 200
    [call] = fake_slack.wait_for("assistant.threads.setSuggestedPrompts")
    assert call.params["channel_id"] == DM and call.params["thread_ts"] == THREAD
    assert [p["title"] for p in call.params["prompts"]] == [
        "What's on my plate?", "Why is <lead> hot?", "How am I doing on SLAs this week?"]


def test_a_stream_cut_by_slack_is_redone_once_not_left_half_shown(  # type: ignore[no-untyped-def]
        client, rt, clock, worker, fake_slack, brain: FakeBrain) -> None:
    slack = SlackSide(client)
    brain.reply_kwargs["text"] = " ".join(f"Lead {i} is waiting on you." for i in range(60))
    fake_slack.fail_next("chat.stopStream", status=429, retry_after=2)
    slack.event(dm_event(slack, "what's on my plate"))
    worker.run_until_idle()
    [first] = fake_slack.calls("chat.startStream")
    assert brain.asks and len(fake_slack.calls("chat.stopStream")) == 1  # refused

    clock.advance(seconds=30)
    worker.run_until_idle()
    assert len(brain.asks) == 1  # the retry posts again; it does not ask again
    [deleted] = fake_slack.calls("chat.delete")
    starts = fake_slack.calls("chat.startStream")
    assert len(starts) == 2
    answers = [m for m in fake_slack.messages.values() if m.get("thread_ts") == THREAD]
    assert len(answers) == 1 and not answers[0]["streaming"]
    assert answers[0]["text"] == brain.reply_kwargs["text"]
    assert deleted.params["ts"] != answers[0]["ts"]
    assert first.params["markdown_text"] == starts[1].params["markdown_text"]
