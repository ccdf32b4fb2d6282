"""Issue 5, done when: driven only from outside (`/v1/conversations`, `/v1/handoffs` and signed
Slack payloads), an explicit request, a third repeat and an angry churn threat each hand off
with the right reason; the claimer's replies reach the customer; the bot stays silent after a
claim; Resolve ends the conversation."""

from __future__ import annotations

from typing import Any

from tests.conftest import SUPPORT_CHANNEL
from tests.fake_slack import FakeSlack, SlackSide, all_text, buttons, wait_until
from tests.support.chat import conversation, handoff, say


def _card(fake: FakeSlack, handoff_id: str) -> dict[str, Any]:
    """The transfer card as Slack shows it now, found by its context line."""
    cards = [m for m in fake.messages.values()
             if m["channel"] == SUPPORT_CHANNEL and not m.get("thread_ts")
             and handoff_id in all_text(m["blocks"])]
    assert len(cards) == 1, cards
    return fake.message(SUPPORT_CHANNEL, cards[0]["ts"])


def test_three_reasons_claim_relay_silence_and_resolve(support_client: Any, worker: Any,
                                                        fake_slack: FakeSlack,
                                                        slack: SlackSide) -> None:
    client = support_client
    # An explicit request.
    say(client, "Where can I download my invoices?", conversation="explicit",
        email="ada@acme.io", name="Ada Park")
    explicit = say(client, "Please let me speak to a real person.", conversation="explicit")
    # The same question a third time, phrased differently each time.
    say(client, "How do I export my data to CSV?", conversation="repeat", email="bo@corp.example")
    say(client, "That didn't help, is there another way to export our data to a spreadsheet?",
        conversation="repeat")
    repeat = say(client, "I still cannot figure out how to get a data export",
                 conversation="repeat")
    # An angry churn threat.
    angry = say(client, "Your product is garbage and support is a joke!!! Fix the sync today "
                "or we'll cancel.", conversation="angry", email="cy@shop.example")

    reasons = {}
    for name, moved in (("explicit", explicit), ("repeat", repeat), ("angry", angry)):
        assert moved["status"] == "waiting_for_human" and moved["handoff_id"], name
        assert "bringing in a person" in moved["reply"]
        reasons[name] = handoff(client, moved["handoff_id"])["trigger"]["reason"]
    assert reasons == {"explicit": "asked_for_human", "repeat": "repeated_question",
                       "angry": "churn_threat"}
    assert "negative_sentiment" in handoff(client, angry["handoff_id"])["trigger"]["also"]

    worker.run_until_idle()
    card = _card(fake_slack, angry["handoff_id"])
    assert buttons(card["blocks"]) == ["Claim"]
    assert "Churn or cancellation threat" in all_text(card["blocks"])
    assert slack.click(card, "Claim", "U0SUP0001").status_code == 200
    wait_until(lambda: conversation(client, "angry")["status"] == "human")

    # The bot stays silent after the claim; the customer's words reach the thread.
    silent = say(client, "Hello?? Is anyone actually there?", conversation="angry")
    assert silent == {"reply": None, "status": "human", "handoff_id": angry["handoff_id"]}
    worker.run_until_idle()
    assert "Is anyone actually there?" in fake_slack.thread(SUPPORT_CHANNEL, card["ts"])[-1][
        "text"]

    # The claimer's thread reply reaches the customer as role `agent`.
    slack.reply(SUPPORT_CHANNEL, card["ts"], "U0SUP0001",
                "Hi, I'm Sasha. I've restarted your sync; can you check now?")
    wait_until(lambda: conversation(client, "angry")["messages"][-1]["role"] == "agent")
    messages = conversation(client, "angry")["messages"]
    assert messages[-1]["text"] == "Hi, I'm Sasha. I've restarted your sync; can you check now?"
    assert [m["role"] for m in messages].count("bot") == 1  # only "a person is coming"

    # Resolve ends it.
    worker.run_until_idle()
    slack.click(_card(fake_slack, angry["handoff_id"]), "Resolve", "U0SUP0001")
    wait_until(lambda: conversation(client, "angry")["status"] == "resolved")
    assert handoff(client, angry["handoff_id"])["status"] == "resolved"
    # The other two still wait for someone, untouched.
    assert conversation(client, "explicit")["status"] == "waiting_for_human"
    assert conversation(client, "repeat")["status"] == "waiting_for_human"
