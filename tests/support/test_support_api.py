"""The conversation API from outside: answers grounded in the knowledge base, validation, the
bot's silence once a conversation is handed over, reopening, and one message at a time."""

from __future__ import annotations

import threading
from typing import Any

from service import conversations as service
from tests.support.chat import conversation, handoff, say


def test_a_question_gets_an_answer_quoted_from_the_article(support_client: Any) -> None:
    answer = say(support_client, "How do I reset my password?", email="ada@acme.io",
                 name="Ada Park")
    assert answer["status"] == "bot" and answer["handoff_id"] is None
    reply = answer["reply"]
    assert "“Resetting your password and fixing login problems”" in reply
    assert "Source:" in reply and "Forgot password?" in reply
    convo = conversation(support_client)
    assert convo["status"] == "bot" and convo["owner"] is None
    assert [m["role"] for m in convo["messages"]] == ["customer", "bot"]
    assert convo["messages"][0]["text"] == "How do I reset my password?"
    assert convo["messages"][1]["text"] == reply and convo["messages"][1]["at"]


def test_greetings_and_thanks_are_answered_politely(support_client: Any) -> None:
    hello = say(support_client, "Hi there!", name="Ada Park")
    assert hello["reply"].startswith("Hi Ada!") and hello["status"] == "bot"
    thanks = say(support_client, "thanks!")
    assert thanks["reply"].startswith("You're welcome")


def test_nothing_relevant_means_saying_so_then_a_person(support_client: Any) -> None:
    first = say(support_client, "What will the weather be like in Paris tomorrow?")
    assert first["status"] == "bot"
    assert "couldn't find anything in our help center" in first["reply"]
    assert "Source" not in first["reply"]
    second = say(support_client, "Can you recommend a good pizza place near the office?")
    assert second["status"] == "waiting_for_human" and second["handoff_id"]
    assert "bringing in a person" in second["reply"]
    package = handoff(support_client, second["handoff_id"])
    assert package["trigger"]["reason"] == "low_confidence"


def test_asking_for_a_person_hands_off_and_the_bot_falls_silent(support_client: Any) -> None:
    say(support_client, "How do I export my data to CSV?", email="ada@acme.io")
    moved = say(support_client, "Can I talk to a real person please?")
    assert moved["status"] == "waiting_for_human"
    assert moved["reply"].startswith("Of course.") and "usually takes about 5 minutes" in \
        moved["reply"]
    package = handoff(support_client, moved["handoff_id"])
    assert package["trigger"]["reason"] == "asked_for_human"
    assert package["trigger"]["bot_could_answer"] is True
    later = say(support_client, "Hello? Anyone there?")
    assert later == {"reply": None, "status": "waiting_for_human",
                     "handoff_id": moved["handoff_id"]}
    roles = [m["role"] for m in conversation(support_client)["messages"]]
    assert roles == ["customer", "bot", "customer", "bot", "customer"]


def test_validation_errors_name_the_field_and_change_nothing(support_client: Any) -> None:
    url = "/v1/conversations/conv-1/messages"
    cases = [({"text": "   "}, "text"), ({}, "text"), ({"text": "x" * 4001}, "text"),
             ({"text": "hi", "customer": {"email": "not-an-email"}}, "customer.email"),
             ({"text": "hi", "customer": {"phone": "1"}}, "customer.phone"),
             ({"text": "hi", "extra": 1}, "extra")]
    for body, field in cases:
        response = support_client.post(url, json=body)
        assert response.status_code == 422, (body, response.text)
        assert field in [e["field"] for e in response.json()["errors"]], response.json()
    bad_id = support_client.post("/v1/conversations/%20bad%20id/messages", json={"text": "hi"})
    assert bad_id.status_code == 422
    assert bad_id.json()["errors"][0]["field"] == "conversation_id"
    assert support_client.get("/v1/conversations/conv-1").status_code == 404
    assert support_client.get("/v1/handoffs/wt_nope").status_code == 404


def test_every_route_needs_the_bearer_token(support_client: Any) -> None:
    for method, url in (("post", "/v1/conversations/c/messages"), ("get", "/v1/conversations/c"),
                        ("get", "/v1/handoffs/wt_x")):
        response = getattr(support_client, method)(url, json={"text": "hi"},
                                                   headers={"Authorization": "Bearer wrong"}) \
            if method == "post" else support_client.get(url, headers={"Authorization": "x"})
        assert response.status_code == 401


def test_a_resolved_conversation_reopens_with_the_bot(support_client: Any, support_rt: Any
                                                      ) -> None:
    moved = say(support_client, "I want to speak to a human", email="bo@example.org")
    service.claim(support_rt, moved["handoff_id"], "U0SUP0001")
    service.resolve(support_rt, moved["handoff_id"], "U0SUP0001")
    assert conversation(support_client)["status"] == "resolved"
    again = say(support_client, "How do I download my invoices?")
    assert again["status"] == "bot" and "“Invoices, payment methods" in again["reply"]
    roles = [m["role"] for m in conversation(support_client)["messages"]]
    assert roles[-3:] == ["system", "customer", "bot"]


def test_the_first_email_identifies_the_customer(support_client: Any, support_rt: Any) -> None:
    say(support_client, "hello", email="ada@acme.io", name="Ada")
    refused = support_client.post("/v1/conversations/conv-1/messages", json={
        "text": "hello again", "customer": {"email": "mallory@evil.example.com",
                                            "name": "Mallory"}})
    assert refused.status_code == 409  # tests/support/test_conversation_ownership.py has the rest
    customer = conversation(support_client)["customer"]
    assert customer == {"email": "ada@acme.io", "name": "Ada"}


def test_concurrent_messages_of_one_conversation_are_answered_one_at_a_time(
        support_client: Any) -> None:
    questions = ["How do I reset my password?", "Where can I download my invoices?",
                 "How do I set up SSO with Okta?", "Do you integrate with Salesforce?"]
    results: list[dict[str, Any]] = []
    barrier = threading.Barrier(len(questions))

    def ask(text: str) -> None:
        barrier.wait()
        results.append(say(support_client, text))

    threads = [threading.Thread(target=ask, args=(q,)) for q in questions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r["reply"] for r in results)
    messages = conversation(support_client)["messages"]
    assert [m["role"] for m in messages] == ["customer", "bot"] * 4
    for question, answer in zip(messages[::2], messages[1::2], strict=True):
        assert "Source:" in answer["text"], (question, answer)


def test_erasing_a_customer_removes_their_conversations(support_client: Any,
                                                        support_rt: Any) -> None:
    say(support_client, "human please", conversation="e-1", email="Gone@Example.org")
    say(support_client, "How do I reset my password?", conversation="e-2",
        email="gone@example.org")
    say(support_client, "How do I reset my password?", conversation="e-3",
        email="stays@example.org")
    assert service.erase_customer(support_rt, "gone@example.org", actor="api") == 2
    assert support_client.get("/v1/conversations/e-1").status_code == 404
    assert support_client.get("/v1/conversations/e-2").status_code == 404
    assert conversation(support_client, "e-3")["status"] == "bot"
    state = support_rt.checkpointer.get_tuple(
        {"configurable": {"thread_id": "support:e-2", "checkpoint_ns": ""}})
    assert state is None
