"""Support KPIs from the store and the Prometheus metrics on the runtime's registry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from service import conversations as service
from service.support_kpis import support_kpis
from tests.conftest import T0
from tests.support.chat import say


def _scenario(client: Any, rt: Any, clock: Any) -> None:
    # 1. answered by the bot, never transferred
    say(client, "How do I reset my password?", conversation="k-1")
    # 2. asked for a person although the bot had answered: claimed after 3 minutes, resolved
    say(client, "How do I export my data to CSV?", conversation="k-2")
    two = say(client, "I want to talk to a human", conversation="k-2")["handoff_id"]
    # 3. asked for a person with nothing answered: claimed after 7 minutes, handed back
    three = say(client, "human please", conversation="k-3")["handoff_id"]
    # 4. a churn threat nobody claims
    say(client, "We are going to cancel our subscription", conversation="k-4")
    clock.advance(minutes=3)
    service.claim(rt, two, "U0SUP0001")
    service.resolve(rt, two, "U0SUP0001")
    clock.advance(minutes=4)
    service.claim(rt, three, "U0MGR0001")
    service.hand_back(rt, three, "U0MGR0001", "answered on the phone")


def test_kpis_from_the_store(support_client: Any, support_rt: Any, clock: Any) -> None:
    _scenario(support_client, support_rt, clock)
    kpis = support_kpis(support_rt, since=T0 - timedelta(hours=1))
    assert kpis["conversations"] == 4 and kpis["transfers"] == 3
    assert kpis["transfer_rate"] == 0.75
    assert kpis["transfer_rate_by_trigger"] == {
        "asked_for_human": {"transfers": 2, "rate": 0.5},
        "churn_threat": {"transfers": 1, "rate": 0.25}}
    assert kpis["time_to_claim_s"] == {"claimed": 2, "median": 300.0, "p90": 396.0,
                                       "mean": 300.0, "unclaimed": 1, "escalated": 0}
    assert kpis["human_preference"] == {"asked_for_human": 2, "bot_could_answer": 1,
                                        "rate": 0.25, "share_of_requests": 0.5}
    assert kpis["resolution_after_transfer"] == {"ended": 2, "resolved": 1, "handed_back": 1,
                                                 "open": 1, "rate": 0.5}
    assert kpis["bot_replies"]["answered"] == 2
    later = support_kpis(support_rt, since=T0 + timedelta(hours=1),
                         until=T0 + timedelta(hours=2))
    assert later["conversations"] == 0 and later["transfer_rate"] is None


def test_prometheus_metrics_on_the_runtime_registry(support_client: Any, support_rt: Any,
                                                    clock: Any) -> None:
    _scenario(support_client, support_rt, clock)
    text = support_client.get("/metrics").text
    for line in ('hitl_support_transfers_total{trigger="asked_for_human"} 2.0',
                 'hitl_support_transfers_total{trigger="churn_threat"} 1.0',
                 "hitl_support_human_preference_total 1.0",
                 "hitl_support_claims_total 2.0",
                 'hitl_support_transfer_outcomes_total{outcome="resolved"} 1.0',
                 'hitl_support_transfer_outcomes_total{outcome="handed_back"} 1.0',
                 "hitl_support_time_to_claim_seconds_count 2.0",
                 'hitl_support_time_to_claim_seconds_bucket{le="300.0"} 1.0',
                 'hitl_support_messages_total{role="customer"} 5.0'):
        assert line in text, line
    # Built once per runtime: asking again reuses the same collectors.
    from service.support import support

    assert support(support_rt).metrics is support(support_rt).metrics
