"""Conversation in a card's thread: instructions revise, questions get answers, others are
ignored, and Slack's retried deliveries change nothing twice."""

from __future__ import annotations

from typing import Any

from service.approvals import get_approval, list_approvals
from slack_app.store import decision_view as store_decision
from slack_app.store import get_card
from tests.fake_slack import BOT_ID, all_text, buttons, card_message, wait_until
from tests.flow import pending_card


def _root(rt: Any, approval_id: str) -> tuple[str, str]:
    card = get_card(rt, approval_id)
    assert card is not None
    return card.channel, card.thread_ts


def test_instruction_in_the_thread_posts_version_2_there(client, worker, rt, fake_slack,  # type: ignore[no-untyped-def]
                                                         slack, smtp_sink) -> None:
    card = pending_card(client, worker)
    channel, root = _root(rt, card["approval_id"])
    response = slack.reply(channel, root, "U0REP0001", "Shorter &amp; mention "
                           "<https://vendor.example/webinar|the webinar> &lt;3")
    assert response.status_code == 200
    wait_until(lambda: get_approval(rt, card["approval_id"])["status"] == "revised")
    assert store_decision(rt, card["approval_id"])["payload"]["instruction"] == (
        "Shorter & mention the webinar (https://vendor.example/webinar) <3")
    worker.run_until_idle()

    [v2] = list_approvals(rt)
    assert v2["version"] == 2 and v2["assignee"] == "U0REP0001"
    new_card = card_message(rt, fake_slack, v2["approval_id"])
    assert new_card["channel"] == channel and new_card["thread_ts"] == root
    assert buttons(new_card["blocks"])[0].startswith("Approve")
    assert "approval v2" in all_text(new_card["blocks"])

    old = card_message(rt, fake_slack, card["approval_id"])
    old_text = all_text(old["blocks"])
    assert buttons(old["blocks"]) == []
    assert "*Revision requested* by <@U0REP0001>" in old_text
    assert "Superseded by version 2 (in this thread)" in old_text

    # The superseded version's button (from the message as it was first posted) is refused.
    [first_post] = [c for c in fake_slack.calls("chat.postMessage")
                    if c.params["text"].startswith("Approval v1")]
    stale = {"ts": root, "channel": channel, "blocks": first_post.params["blocks"]}
    slack.click(stale, "Approve", "U0REP0001")
    [refusal] = fake_slack.wait_for("chat.postEphemeral")
    assert "superseded by version 2" in refusal.params["text"]
    worker.run_until_idle()
    assert smtp_sink.messages == []
    assert get_approval(rt, v2["approval_id"])["status"] == "pending"


def test_a_retried_event_does_not_revise_twice(client, worker, rt, fake_slack, slack) -> None:  # type: ignore[no-untyped-def]
    card = pending_card(client, worker)
    channel, root = _root(rt, card["approval_id"])
    event = slack.reply_event(channel, root, "U0REP0001", "make it warmer")
    assert slack.event(event, event_id="Ev0001").status_code == 200
    wait_until(lambda: get_approval(rt, card["approval_id"])["status"] == "revised")
    worker.run_until_idle()  # version 2 now exists: a second revise would hit it
    for attempt in (1, 2):
        retried = slack.event(event, event_id="Ev0001", headers={
            "X-Slack-Retry-Num": str(attempt), "X-Slack-Retry-Reason": "http_timeout"})
        assert retried.status_code == 200
    worker.run_until_idle()
    [v2] = list_approvals(rt)
    assert v2["version"] == 2
    assert [a["version"] for a in list_approvals(rt, status=None)] == [1, 2]


def test_a_question_gets_an_answer_not_a_redraft(client, worker, rt, fake_slack,  # type: ignore[no-untyped-def]
                                                 slack) -> None:
    card = pending_card(client, worker)
    channel, root = _root(rt, card["approval_id"])
    slack.reply(channel, root, "U0REP0001", "Why band A?")
    answer = wait_until(lambda: [m for m in _thread_after_work(worker, fake_slack, channel, root)])
    [reply] = answer
    assert "Band A" in reply["text"] and "score" in reply["text"]
    for reason in card["context"]["fit"]["reasons"]:
        assert reason in reply["text"]
    assert "<!date^" in reply["text"]  # the top signals, with when they happened
    slack.reply(channel, root, "U0REP0001", "what are the risks")
    wait_until(lambda: len(_thread_after_work(worker, fake_slack, channel, root)) == 2)
    assert get_approval(rt, card["approval_id"])["status"] == "pending"
    assert [a["version"] for a in list_approvals(rt, status=None)] == [1]


def _thread_after_work(worker: Any, fake_slack: Any, channel: str, root: str
                       ) -> list[dict[str, Any]]:
    worker.run_until_idle()
    return fake_slack.thread(channel, root)


def test_other_people_and_bots_are_ignored(client, worker, rt, fake_slack, slack) -> None:  # type: ignore[no-untyped-def]
    card = pending_card(client, worker)
    channel, root = _root(rt, card["approval_id"])
    slack.reply(channel, root, "U0REP0002", "make it longer")      # another rep
    slack.reply(channel, root, "U0SUP0001", "why band A?")         # support, a question
    bot = slack.reply_event(channel, root, "U0BOT0001", "I am a bot")
    bot["bot_id"] = BOT_ID
    slack.event(bot)
    edited = slack.reply_event(channel, root, "U0REP0001", "edited text")
    edited["subtype"] = "message_changed"
    slack.event(edited)
    top_level = slack.reply_event(channel, root, "U0REP0001", "not in a thread")
    top_level.pop("thread_ts")
    slack.event(top_level)
    worker.run_until_idle()
    assert get_approval(rt, card["approval_id"])["status"] == "pending"
    assert fake_slack.thread(channel, root) == []
    assert fake_slack.calls("chat.postEphemeral") == []


def test_an_instruction_after_approval_is_refused_politely(client, worker, rt, fake_slack,  # type: ignore[no-untyped-def]
                                                          slack, smtp_sink) -> None:
    card = pending_card(client, worker)
    channel, root = _root(rt, card["approval_id"])
    slack.click(card_message(rt, fake_slack, card["approval_id"]), "Approve", "U0REP0001")
    wait_until(lambda: get_approval(rt, card["approval_id"])["status"] == "approved")
    slack.reply(channel, root, "U0REP0001", "actually make it shorter")
    [refusal] = fake_slack.wait_for("chat.postEphemeral")
    assert "already approved by you" in refusal.params["text"]
    assert refusal.params["thread_ts"] == root
    worker.run_until_idle()
    assert len(smtp_sink.messages) == 1


def test_an_instruction_whose_write_fails_is_redone_by_slacks_retry(  # type: ignore[no-untyped-def]
        client, worker, rt, fake_slack, slack, monkeypatch) -> None:
    """A thread reply is an event, answered before its listener runs: its decision's write has
    no answer budget to keep (slack_app.ack_budget), so a write that is slow and then fails is
    seen to fail, the delivery's receipt is released, and Slack's retry revises the draft."""
    import time

    from sqlalchemy.exc import OperationalError

    from slack_app import ack_budget, decisions

    card = pending_card(client, worker)
    channel, root = _root(rt, card["approval_id"])
    monkeypatch.setattr(ack_budget, "ACK_BUDGET_S", 0.05)  # a click's budget: not an event's
    write = decisions.queue_decisions
    failures: list[int] = []

    def slow_then_failing(rt_: Any, payloads: list[Any]) -> None:
        if not failures:
            failures.append(len(payloads))
            time.sleep(0.3)  # longer than the budget above
            raise OperationalError("INSERT INTO jobs", {}, Exception("disk I/O error"))
        write(rt_, payloads)

    monkeypatch.setattr(decisions, "queue_decisions", slow_then_failing)
    event = slack.reply_event(channel, root, "U0REP0001", "make it warmer")
    assert slack.event(event, event_id="Ev0002").status_code == 200

    def retried_until_revised() -> bool:
        slack.event(event, event_id="Ev0002", headers={
            "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
        return get_approval(rt, card["approval_id"])["status"] == "revised"

    wait_until(retried_until_revised, interval=0.2)
    assert failures == [1]
    worker.run_until_idle()
    assert [a["version"] for a in list_approvals(rt, status=None)] == [1, 2]
