"""SLA breaches reach Slack: the owner is nudged in the card's thread, then the manager is told
and the new holder gets a card; the old card shows the reassignment."""

from __future__ import annotations

from tests.fake_slack import all_text, buttons, card_message
from tests.flow import pending_card


def test_breaches_remind_then_escalate_in_slack(client, worker, rt, fake_slack, clock) -> None:
    card = pending_card(client, worker)
    message = card_message(rt, fake_slack, card["approval_id"])
    clock.advance(minutes=16)
    worker.run_until_idle()
    nudges = [c for c in fake_slack.calls("chat.postMessage")
              if c.params.get("thread_ts") == message["ts"]]
    assert len(nudges) == 1 and "<@U0REP0001>" in nudges[0].params["text"]
    assert "passed its SLA" in nudges[0].params["text"]

    clock.advance(minutes=16)
    worker.run_until_idle()
    texts = [c.params.get("text", "") for c in fake_slack.calls("chat.postMessage")]
    assert any("SLA missed twice" in t and "<@U0REP0001>" in t for t in texts)
    opened = [c.params["users"] for c in fake_slack.calls("conversations.open")]
    assert "U0MGR0001" in opened  # the manager heard about it
    [v2] = client.get("/v1/approvals").json()
    assert v2["assignee"] in opened  # and the new holder got a card
    old = card_message(rt, fake_slack, card["approval_id"])
    assert buttons(old["blocks"]) == []
    assert "reassigned" in all_text(old["blocks"])


def test_a_lead_disqualified_while_its_card_waits_shows_it_on_the_card(
        client, worker, rt, fake_slack, clock) -> None:
    """A later event makes the lead a "Marketing Intern": the card, still decidable, says the
    lead is disqualified now, so whoever decides knows; the change is on the record."""
    from datetime import timedelta

    from tests.conftest import LEAD_ADA, T0, event
    from tests.flow import ingest
    from tests.service.audit_log import audits

    card = pending_card(client, worker)
    assert "disqualified now" not in all_text(card_message(rt, fake_slack,
                                                           card["approval_id"])["blocks"])
    clock.advance(minutes=3)
    intern = dict(LEAD_ADA, title="Marketing Intern")
    ingest(client, [event("dq-1", "page_view", at=T0 + timedelta(minutes=2), lead=intern,
                          url="https://vendor.example/blog")])
    worker.run_until_idle()
    shown = card_message(rt, fake_slack, card["approval_id"])
    assert "The lead is disqualified now" in all_text(shown["blocks"])
    assert buttons(shown["blocks"])[0].startswith("Approve")  # still the person's call
    [noted] = audits(rt, "disqualified_during_handoff")
    assert noted.detail["disqualifiers"] == ["student"]
