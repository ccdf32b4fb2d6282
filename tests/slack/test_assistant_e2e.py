"""The rep's assistant end to end, with the real assistant (offline intent parser, LangGraph
graph, store) behind the Slack surface: the seeded team's day (evals/assistant_seed.py), signed
DM events and clicks in, the fake Slack Web API out."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from evals.assistant_seed import SAM, seed_assistant_store
from store.tables import Lead
from tests.conftest import T0
from tests.fake_slack import all_text, buttons, wait_until
from tests.slack.assistant_fakes import DM, THREAD, answer, click, dm_event
from tests.slack_oracle import HOSTILE_ALL, violations


@pytest.fixture
def seeded(rt: Any, worker: Any) -> dict[str, str]:
    """Lead key -> lead id; the worker drafted (and carded) every lead, clock frozen at T0."""
    return seed_assistant_store(rt, worker.run_until_idle)


def _lead(rt: Any, lead_id: str) -> Any:
    with rt.db.read() as session:
        lead = session.get(Lead, lead_id)
        session.expunge(lead)
        return lead


def test_why_is_acme_hot_is_answered_from_the_store_with_its_sources(  # type: ignore[no-untyped-def]
        seeded, slack, fake_slack) -> None:
    assert slack.event(dm_event(slack, "Why is Acme hot?")).status_code == 200
    message = answer(fake_slack)
    assert message["thread_ts"] == THREAD
    # The signal's event id, its underscore shown as a look-alike mrkdwn does not format.
    assert "ada\u02cdpark-3" in message["text"]
    assert "band A" in message["text"]
    [sources] = [b for b in message["blocks"] if b.get("block_id") == "asst_citations"]
    assert "Ada Park (Acme)" in all_text([sources])
    assert violations(message["blocks"]) == []


def test_a_snooze_happens_only_after_the_approve_click(  # type: ignore[no-untyped-def]
        seeded, slack, fake_slack, rt, worker) -> None:
    lead_id = seeded["ian"]
    slack.event(dm_event(slack, "snooze Initech until Monday"))
    message = answer(fake_slack)
    assert buttons(message["blocks"]) == ["Approve", "Reject"]
    worker.run_until_idle()
    assert _lead(rt, lead_id).suppressed_until is None  # proposed, not done

    click(slack, message, "Approve", "U0REP0001")
    wait_until(lambda: fake_slack.calls("chat.update") and _lead(rt, lead_id).suppressed_until)
    assert _lead(rt, lead_id).suppressed_until.isoformat() == "2026-11-23T14:00:00+00:00"
    worker.run_until_idle()
    [update_call] = [c for c in fake_slack.calls("chat.update")
                     if c.params["ts"] == message["ts"]]
    updated = fake_slack.message(DM, message["ts"])
    assert buttons(updated["blocks"]) == []
    assert "Approved" in all_text(updated["blocks"]) and "<@U0REP0001>" in all_text(
        updated["blocks"])
    assert violations(update_call.params["blocks"]) == []


def test_another_reps_lead_gets_nothing_about_it(seeded, slack, fake_slack) -> None:  # type: ignore[no-untyped-def]
    channel = "D" + SAM[1:]
    slack.event(dm_event(slack, "Why is Acme hot?", user=SAM, channel=channel))
    message = answer(fake_slack, channel)
    assert "Ada" not in message["text"] and "park-3" not in message["text"]
    assert [b for b in message["blocks"] if b.get("block_id") == "asst_citations"] == []
    assert buttons(message["blocks"]) == []


def test_hostile_lead_text_from_the_store_reaches_slack_inert(  # type: ignore[no-untyped-def]
        seeded, slack, fake_slack, rt) -> None:
    with rt.db.session() as session:
        session.execute(update(Lead).where(Lead.id == seeded["gil"])
                        .values(first_name=f"Gil {HOSTILE_ALL}", updated_at=T0))
    slack.event(dm_event(slack, "Why is Globex hot?"))
    message = answer(fake_slack)
    assert "Gil" in message["text"] or "Gil" in all_text(message["blocks"])
    assert violations({"text": message["text"]}) == []
    assert violations(message["blocks"]) == []
    for attack in ("<!channel>", "<@U0ADMIN>", "<https://evil.example|click here>"):
        assert attack not in message["text"] and attack not in all_text(message["blocks"])
