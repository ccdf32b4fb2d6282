"""The warm-transfer package on a long conversation: nothing the customer said or the bot tried
is missing, and the customer facts come from the leads and events tables."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.conftest import LEAD_ADA, T0, event
from tests.support.chat import conversation, handoff, say

QUESTIONS = [
    "Hello!",
    "How do I reset my password?",
    "Where can I download my invoices?",
    "How do I set up SSO with Okta?",
    "Do you integrate with Salesforce?",
    "thanks",
    "What will the weather be like in Paris tomorrow?",
    "How do I export my data to CSV?",
    "How do I add a new user?",
    "Slack notifications are not arriving",
    "the sync with hubspot is failing",
    "What is your cancellation policy?",
    "ok",
]
FINAL = "This is ridiculous, nothing works and we are going to cancel our subscription."


def _customer_history(client: Any) -> None:
    events = [
        event("sup-1", "support_ticket", at=T0 - timedelta(days=3), lead=LEAD_ADA,
              subject="HubSpot sync stuck", sentiment=-0.6, status="open"),
        event("sup-2", "support_ticket", at=T0 - timedelta(days=40), lead=LEAD_ADA,
              subject="Old question", sentiment=0.1, status="closed"),
        event("sup-3", "product_usage", at=T0 - timedelta(days=1), lead=LEAD_ADA,
              metric="active_users", change_pct=-35, plan="Business"),
        event("sup-4", "page_view", at=T0 - timedelta(hours=5), lead=LEAD_ADA,
              url="https://vendor.example/pricing"),
    ]
    assert client.post("/v1/events", json={"events": events}).status_code == 202


def test_the_package_of_a_long_conversation_is_complete(support_client: Any) -> None:
    _customer_history(support_client)
    for text in QUESTIONS:
        assert say(support_client, text, email="ada@acme.io", name="Ada Park")["status"] == "bot"
    moved = say(support_client, FINAL)
    assert moved["status"] == "waiting_for_human"
    package = handoff(support_client, moved["handoff_id"])
    messages = conversation(support_client)["messages"]

    # The full transcript, in order, every role.
    assert [(m["role"], m["text"]) for m in package["transcript"]] == \
        [(m["role"], m["text"]) for m in messages]
    assert len(package["transcript"]) == 2 * (len(QUESTIONS) + 1)
    assert package["waiting_since"].startswith("2026-11-18T15:00:00")

    # Why, what about, how the customer feels.
    assert package["trigger"]["reason"] == "churn_threat"
    assert "cancel our subscription" in package["trigger"]["detail"]
    assert "negative_sentiment" in package["trigger"]["also"]
    assert package["intent"] == "cancellation"
    history = package["sentiment"]["history"]
    assert len(history) == len(QUESTIONS) + 1 and history[-1] < -0.5
    assert package["sentiment"]["trend"] == "falling"

    # Who the customer is, from the leads and events tables.
    customer = package["customer"]
    assert customer["company"] == "Acme" and customer["plan"] == "Business"
    assert customer["employees"] == 850 and customer["segment"] == "mid-market"
    assert customer["value"] == "standard"
    assert [t["subject"] for t in customer["open_tickets"]] == ["HubSpot sync stuck"]
    assert customer["recent_activity"][0]["type"] == "page_view"
    assert any("active_users" in a["detail"] for a in customer["recent_activity"])

    # What the bot already tried.
    tried = package["bot_tried"]
    assert tried["answers"] == 9 and tried["misses"] == 0
    titles = {a["title"] for a in tried["articles"]}
    assert "Resetting your password and fixing login problems" in titles
    assert "Cancellation policy and what happens to your data" in titles
    assert tried["last_answer"].startswith("Ada, here is what our help article “Cancellation")

    # A summary that saves re-asking, and what to do next.
    summary = package["summary"]
    for fact in ("Ada Park", "Acme", "Business plan", "How do I reset my password?",
                 "going to cancel", "churn"):
        assert fact in summary, fact
    steps = " ".join(package["suggested_next_steps"])
    assert "Acknowledge the frustration" in steps and "HubSpot sync stuck" in steps
    assert package["suggested_reply"].startswith("Hi Ada,")
    assert package["policy_version"]
