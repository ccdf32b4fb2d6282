"""The warm transfer in Slack, driven the way Slack drives it: the card and the transcript in
the support channel (fake Web API on loopback), signed clicks and thread messages through Bolt,
the real worker, and an injected clock for the unclaimed escalation."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import select

from service import conversations as service
from service.support import support
from store.tables import SupportTransfer
from tests.conftest import SUPPORT_CHANNEL
from tests.fake_slack import BOT_ID, FakeSlack, SlackSide, all_text, buttons, wait_until
from tests.support.chat import conversation, handoff, say, transfer_to_a_person


def _card(rt: Any, fake: FakeSlack, handoff_id: str) -> dict[str, Any]:
    with rt.db.session() as session:
        t = session.get(SupportTransfer, handoff_id)
        assert t is not None and t.slack_ts, "card not posted"
        return fake.message(t.slack_channel, t.slack_ts)


def test_the_card_and_the_transcript_land_in_the_support_channel(
        support_client: Any, worker: Any, support_rt: Any, fake_slack: FakeSlack) -> None:
    handoff_id = transfer_to_a_person(support_client, worker)
    card = _card(support_rt, fake_slack, handoff_id)
    assert card["channel"] == SUPPORT_CHANNEL
    assert buttons(card["blocks"]) == ["Claim"]
    text = all_text(card["blocks"])
    package = handoff(support_client, handoff_id)
    for expected in ("*Summary*", "Customer asked for a person", "*Sentiment*",
                     f"{package['sentiment']['current']:+.2f}", "*Customer*", "ada@acme.io",
                     "*What the bot already tried*", "“Exporting your data",
                     "Suggested next steps", "<!date^"):
        assert expected in text, expected
    thread = fake_slack.thread(SUPPORT_CHANNEL, card["ts"])
    transcript = "\n".join(m["text"] for m in thread)
    assert "Full transcript" in transcript
    for message in conversation(support_client)["messages"]:
        assert message["text"].splitlines()[0][:40].replace("&", "&amp;") in transcript.replace(
            "&gt;", ">")
    assert all(c.token == "xoxb-test" for c in fake_slack.calls())


def test_claim_reply_both_ways_and_resolve(support_client: Any, worker: Any,
                                           support_rt: Any, fake_slack: FakeSlack,
                                           slack: SlackSide) -> None:
    handoff_id = transfer_to_a_person(support_client, worker)
    card = _card(support_rt, fake_slack, handoff_id)
    assert slack.click(card, "Claim", "U0SUP0001").status_code == 200
    wait_until(lambda: conversation(support_client)["status"] == "human")
    convo = conversation(support_client)
    assert convo["owner"] == "U0SUP0001" and convo["owner_name"] == "Sasha Support"
    assert convo["messages"][-1]["role"] == "system"
    assert "Sasha Support from our support team has joined" in convo["messages"][-1]["text"]
    worker.run_until_idle()
    card = _card(support_rt, fake_slack, handoff_id)
    assert buttons(card["blocks"]) == ["Resolve", "Hand back to the bot"]
    assert "*Claimed* by <@U0SUP0001>" in all_text(card["blocks"])

    # The owner's thread reply reaches the customer; a colleague's does not.
    slack.reply(SUPPORT_CHANNEL, card["ts"], "U0SUP0001", "Hi Ada, I can help with the export.")
    slack.reply(SUPPORT_CHANNEL, card["ts"], "U0MGR0001", "fyi this is a big account")
    wait_until(lambda: conversation(support_client)["messages"][-1]["role"] == "agent")
    agent = conversation(support_client)["messages"][-1]
    assert agent["text"] == "Hi Ada, I can help with the export."
    assert agent["author"] == "Sasha Support"

    # The bot stays silent; the customer's message arrives in the thread.
    answer = say(support_client, "Thanks! Where is the Export button exactly?")
    assert answer == {"reply": None, "status": "human", "handoff_id": handoff_id}
    worker.run_until_idle()
    thread = fake_slack.thread(SUPPORT_CHANNEL, card["ts"])
    assert "Where is the Export button exactly?" in thread[-1]["text"]
    assert thread[-1]["text"].startswith("*Customer*")
    roles = [m["role"] for m in conversation(support_client)["messages"]]
    assert roles[-2:] == ["agent", "customer"] and "fyi" not in str(conversation(support_client))

    slack.click(_card(support_rt, fake_slack, handoff_id), "Resolve", "U0SUP0001")
    wait_until(lambda: conversation(support_client)["status"] == "resolved")
    worker.run_until_idle()
    assert buttons(_card(support_rt, fake_slack, handoff_id)["blocks"]) == []
    assert "*Resolved* by <@U0SUP0001>" in all_text(
        _card(support_rt, fake_slack, handoff_id)["blocks"])
    assert handoff(support_client, handoff_id)["status"] == "resolved"


def test_two_agents_claim_at_once_and_one_owns_it(support_client: Any, worker: Any,
                                                  support_rt: Any, fake_slack: FakeSlack,
                                                  slack: SlackSide) -> None:
    handoff_id = transfer_to_a_person(support_client, worker)
    card = _card(support_rt, fake_slack, handoff_id)
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def click(user: str) -> None:
        barrier.wait()
        statuses.append(slack.click(card, "Claim", user).status_code)

    threads = [threading.Thread(target=click, args=(u,)) for u in ("U0SUP0001", "U0MGR0001")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200, 200]
    [refusal] = fake_slack.wait_for("chat.postEphemeral")
    owner = conversation(support_client)["owner"]
    assert owner in ("U0SUP0001", "U0MGR0001")
    loser = ({"U0SUP0001", "U0MGR0001"} - {owner}).pop()
    assert refusal.params["user"] == loser
    assert f"already claimed by <@{owner}>" in refusal.params["text"]
    claimed = [m for m in conversation(support_client)["messages"] if m["role"] == "system"]
    assert len(claimed) == 1


def test_service_level_claim_race_has_exactly_one_winner(support_client: Any,
                                                          support_rt: Any) -> None:
    moved = say(support_client, "human please", email="bo@example.org")
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def claim(actor: str) -> None:
        barrier.wait()
        try:
            service.claim(support_rt, moved["handoff_id"], actor)
            outcomes.append(f"won:{actor}")
        except service.AlreadyClaimed as exc:
            outcomes.append(f"lost:{exc.owner}")

    actors = ["U0SUP0001", "U0MGR0001"] * 3
    threads = [threading.Thread(target=claim, args=(a,)) for a in actors]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [o for o in outcomes if o.startswith("won:")]
    assert len(winners) == 1
    assert all(o == f"lost:{winners[0][4:]}" for o in outcomes if o.startswith("lost:"))


def test_strangers_cannot_claim_and_non_owners_cannot_resolve(
        support_client: Any, worker: Any, support_rt: Any, fake_slack: FakeSlack,
        slack: SlackSide) -> None:
    handoff_id = transfer_to_a_person(support_client, worker)
    card = _card(support_rt, fake_slack, handoff_id)
    slack.click(card, "Claim", "U0REP0001")  # a sales rep: not on the support team
    [refusal] = fake_slack.wait_for("chat.postEphemeral")
    assert "Only the support team" in refusal.params["text"] or \
        "only the support team" in refusal.params["text"]
    assert conversation(support_client)["status"] == "waiting_for_human"
    slack.click(card, "Claim", "U0SUP0001")
    wait_until(lambda: conversation(support_client)["status"] == "human")
    worker.run_until_idle()
    with pytest.raises(service.Forbidden):
        service.resolve(support_rt, handoff_id, "U0REP0001")
    # A reply in the thread before anyone claimed would not have reached the customer either.
    assert [m["role"] for m in conversation(support_client)["messages"]].count("agent") == 0


def test_hand_back_returns_the_conversation_to_the_bot_with_a_note(
        support_client: Any, worker: Any, support_rt: Any, fake_slack: FakeSlack,
        slack: SlackSide) -> None:
    handoff_id = transfer_to_a_person(support_client, worker)
    slack.click(_card(support_rt, fake_slack, handoff_id), "Claim", "U0SUP0001")
    wait_until(lambda: conversation(support_client)["status"] == "human")
    worker.run_until_idle()
    slack.click(_card(support_rt, fake_slack, handoff_id), "Hand back", "U0SUP0001")
    [opened] = fake_slack.wait_for("views.open")
    slack.submit(opened.params["view"], "U0SUP0001",
                 values={"note": "Export explained on a call; customer is happy."})
    wait_until(lambda: conversation(support_client)["status"] == "bot")
    worker.run_until_idle()
    package = handoff(support_client, handoff_id)
    assert package["status"] == "handed_back"
    assert package["note"] == "Export explained on a call; customer is happy."
    convo = conversation(support_client)
    assert "handed the conversation back" in convo["messages"][-1]["text"]
    assert "Export explained" not in str(convo)  # the note is for the record, not the customer
    card_text = all_text(_card(support_rt, fake_slack, handoff_id)["blocks"])
    assert "Handed back to the bot" in card_text and "Export explained on a call" in card_text
    # The bot answers again, counting afresh (the earlier frustration does not re-trigger).
    again = say(support_client, "How do I reset my password?")
    assert again["status"] == "bot" and "Source:" in again["reply"]


def test_unclaimed_transfers_escalate_to_the_support_lead_on_time(
        support_client: Any, worker: Any, support_rt: Any, fake_slack: FakeSlack,
        clock: Any) -> None:
    handoff_id = transfer_to_a_person(support_client, worker)
    timeout = support(support_rt).policy.claim_timeout_minutes
    clock.advance(minutes=timeout - 0.5)
    worker.run_until_idle()
    assert handoff(support_client, handoff_id)["escalated_at"] is None
    assert fake_slack.calls("conversations.open") == []

    clock.advance(minutes=1)
    worker.run_until_idle()
    package = handoff(support_client, handoff_id)
    assert package["escalated_to"] == "U0SUP0001" and package["escalated_at"]
    told = conversation(support_client)["messages"][-1]
    assert told["role"] == "bot" and "nobody from our support team has picked up" in told["text"]
    assert "Sasha Support" in told["text"]
    [opened] = fake_slack.calls("conversations.open")
    assert opened.params["users"] == "U0SUP0001"
    card = _card(support_rt, fake_slack, handoff_id)
    thread = fake_slack.thread(SUPPORT_CHANNEL, card["ts"])
    assert any("<@U0SUP0001> nobody has claimed this conversation" in m["text"] for m in thread)
    dm = [c for c in fake_slack.calls("chat.postMessage") if c.params["channel"] == "D0SUP0001"]
    assert len(dm) == 1 and buttons(dm[0].params["blocks"]) == ["Claim"]
    assert "escalated to <@U0SUP0001>" in all_text(card["blocks"])
    # Running the timer again (a retry) changes nothing.
    assert service.escalate_unclaimed(support_rt, handoff_id) is False
    worker.run_until_idle()
    assert len(fake_slack.calls("conversations.open")) == 1


def test_a_claimed_transfer_does_not_escalate(support_client: Any, worker: Any,
                                              support_rt: Any, fake_slack: FakeSlack,
                                              clock: Any) -> None:
    handoff_id = transfer_to_a_person(support_client, worker)
    service.claim(support_rt, handoff_id, "U0SUP0001")
    clock.advance(hours=2)
    worker.run_until_idle()
    assert handoff(support_client, handoff_id)["escalated_at"] is None
    assert fake_slack.calls("conversations.open") == []


def test_retried_thread_events_relay_once_and_approval_threads_are_not_taken(
        support_client: Any, worker: Any, support_rt: Any, fake_slack: FakeSlack,
        slack: SlackSide) -> None:
    handoff_id = transfer_to_a_person(support_client, worker)
    card = _card(support_rt, fake_slack, handoff_id)
    slack.click(card, "Claim", "U0SUP0001")
    wait_until(lambda: conversation(support_client)["status"] == "human")
    event = slack.reply_event(SUPPORT_CHANNEL, card["ts"], "U0SUP0001", "On it!")
    for attempt in range(3):
        headers = {"X-Slack-Retry-Num": str(attempt), "X-Slack-Retry-Reason": "http_timeout"} \
            if attempt else None
        assert slack.event(event, event_id="EvSUP1", headers=headers).status_code == 200
    wait_until(lambda: conversation(support_client)["messages"][-1]["role"] == "agent")
    worker.run_until_idle()
    agents = [m for m in conversation(support_client)["messages"] if m["role"] == "agent"]
    assert [m["text"] for m in agents] == ["On it!"]
    # Our own relay posts (bot messages) in the thread are not taken for the owner talking.
    bot = slack.reply_event(SUPPORT_CHANNEL, card["ts"], "U0BOT0001", "*Customer* hi")
    bot["bot_id"] = BOT_ID
    slack.event(bot)
    # A message in some other thread (not a transfer card) is left to the approval surface.
    slack.reply("D0REP0001", "1700000000.000999", "U0SUP0001", "unrelated thread")
    worker.run_until_idle()
    assert [m["text"] for m in conversation(support_client)["messages"]
            if m["role"] == "agent"] == ["On it!"]
    with support_rt.db.session() as session:
        assert session.scalar(select(SupportTransfer.status)) == "claimed"


def test_a_card_that_changed_while_its_update_was_in_flight_is_sent_again(
        support_client: Any, worker: Any, support_rt: Any, fake_slack: FakeSlack,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two updates of one card at once may reach Slack in the other order, and Slack keeps the
    last. Here the transfer is claimed after an update was rendered and before its chat.update
    lands: the update sends the card again (slack_app.web.update_until_current)."""
    import slack_app.support.jobs as support_jobs
    from service.support_transfers import claim

    handoff_id = transfer_to_a_person(support_client, worker)
    real_call, raced = support_jobs.call, []

    def racing_call(method: Any, **kwargs: Any) -> Any:
        if method.__name__ == "chat_update" and not raced:
            raced.append(kwargs["blocks"])
            claim(support_rt, handoff_id, "U0SUP0001")
        return real_call(method, **kwargs)

    monkeypatch.setattr(support_jobs, "call", racing_call)
    support_jobs.update_card(support_rt, {"transfer_id": handoff_id})
    assert raced and buttons(raced[0]) == ["Claim"]  # rendered before the claim
    card = _card(support_rt, fake_slack, handoff_id)
    assert "*Claimed* by <@U0SUP0001>" in all_text(card["blocks"])
    assert buttons(card["blocks"]) == ["Resolve", "Hand back to the bot"]


def test_a_link_the_customer_wrote_is_never_live_in_the_transcript(
        support_client: Any, worker: Any, fake_slack: FakeSlack) -> None:
    """The transcript goes out as plain messages: each is shown from verbatim sections, since
    Slack auto-links a URL or a channel name in a message's top-level text."""
    say(support_client, "Log in at https://evil.example/login and tell #general",
        email="ada@acme.io", name="Ada Park")
    say(support_client, "This is useless. I want to talk to a human")
    worker.run_until_idle()
    posts = fake_slack.calls("chat.postMessage")
    quoting = [c.params for c in posts if "evil.example" in c.params["text"]]
    assert quoting, "the transcript was not posted"
    for params in [c.params for c in posts]:
        blocks = params["blocks"]
        assert blocks and all(b["text"]["verbatim"] is True for b in blocks
                              if b["type"] == "section" and b.get("text", {}).get("type")
                              == "mrkdwn")
    assert any("https://evil.example/login" in all_text(p["blocks"]) for p in quoting)
