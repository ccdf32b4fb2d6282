"""Outcomes credited to the variant that wrote the email, through the real flow on the
injected clock (hand-raise, card, human decision, SMTP send, then the lead's events), and the
approval gate unchanged under every variant of every stage."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from agent.experiments import assign
from store.tables import OutboxMessage
from tests.conftest import LEAD_ADA, event, make_settings
from tests.flow import decide, ingest, pending_card
from tests.service.experiments_helpers import assignments, outcomes, policy_with_experiments

# What the card offers a person, with or without an experiment (agent/hitl_protocol.py).
GATE = [{"action_name": "send_email", "allowed_decisions": ["approve", "edit", "reject", "respond"]},
        {"action_name": "escalate", "allowed_decisions": ["approve", "edit", "reject"]}]
BOB = dict(LEAD_ADA, email="bob@acme.io", first_name="Bob")


@pytest.fixture
def settings(tmp_path: Path, smtp_sink: Any, database_url: str) -> Any:
    return make_settings(tmp_path, smtp_url=smtp_sink.url, database_url=database_url,
                         policy_file=policy_with_experiments(tmp_path))


def _sent(rt: Any, lead_id: str) -> OutboxMessage:
    with rt.db.read() as s:
        message = s.scalar(select(OutboxMessage).where(OutboxMessage.lead_id == lead_id))
        s.expunge_all()
        return message


def _send(client: Any, worker: Any, **decision: Any) -> dict[str, Any]:
    card = pending_card(client, worker)
    body = {"action": "approve", "actor": card["assignee"], **decision}
    assert decide(client, card["approval_id"], **body).status_code == 200
    worker.run_until_idle()
    return card


def test_draft_and_decision_are_recorded_with_the_variant(client, worker, rt, clock) -> None:
    card = pending_card(client, worker)
    lead_id = card["lead_id"]
    variant = assignments(rt)[("first-email-length", lead_id)]
    assert variant == assign(rt.policy.experiments[0], lead_id)
    assert {(o.experiment, o.variant, o.kind, o.approval_id) for o in outcomes(rt, "drafted")} \
        == {("first-email-length", variant, "drafted", card["approval_id"]),
            ("band-a-cut", assignments(rt)[("band-a-cut", lead_id)], "drafted",
             card["approval_id"])}
    clock.advance(minutes=7)
    edited_body = card["draft"]["body"].replace("Hi", "Hello", 1) + "\nP.S. see you soon"
    assert decide(client, card["approval_id"], action="edit", actor=card["assignee"],
                  body=edited_body).status_code == 200
    [edit, _] = outcomes(rt, "edited")
    assert edit.seconds == 7 * 60
    assert edit.edit_ratio is not None and 0 < edit.edit_ratio < 0.2
    assert outcomes(rt, "approved_as_is") == []


def test_a_rejection_is_recorded_with_its_reason(client, worker, rt) -> None:
    card = pending_card(client, worker)
    assert decide(client, card["approval_id"], action="reject", actor=card["assignee"],
                  reason_code="not_icp").status_code == 200
    assert {o.reason_code for o in outcomes(rt, "rejected")} == {"not_icp"}
    assert len(outcomes(rt, "rejected")) == 2  # one per experiment the lead is in


def test_a_reply_naming_the_sent_message_is_credited_once(
        client, worker, rt, clock, smtp_sink) -> None:
    card = _send(client, worker)
    message = _sent(rt, card["lead_id"])
    assert message.sent_at is not None and len(smtp_sink.messages) == 1
    clock.advance(hours=5)
    reply = event("r-1", "inbound_reply", at=clock.now(), text="Sounds good, Tuesday?",
                  in_reply_to=message.message_id, references=f"<older@x> {message.message_id}")
    ingest(client, [reply])
    ingest(client, [dict(reply, event_id="r-2")])  # a second reply to the same email
    ingest(client, [reply])  # and a replay
    replies = outcomes(rt, "reply")
    assert {(r.outbox_id, r.event_id) for r in replies} == {(message.id, "r-1")}
    assert len(replies) == 2  # one per experiment


def test_in_reply_to_picks_the_email_it_answers_not_the_latest(
        client, worker, rt, clock, smtp_sink) -> None:
    first = _send(client, worker)
    older = _sent(rt, first["lead_id"])
    clock.advance(days=1)
    # A second email to the same lead (a later hand-raise), sent after the first.
    ingest(client, [event("h-2", "form_submit", at=clock.now() - timedelta(minutes=3),
                          form="pricing")])
    worker.run_until_idle()
    [card] = client.get("/v1/approvals", params={"status": "pending"}).json()
    assert decide(client, card["approval_id"], action="approve",
                  actor=card["assignee"]).status_code == 200
    worker.run_until_idle()
    with rt.db.read() as s:
        latest = s.scalar(select(OutboxMessage).where(OutboxMessage.approval_id
                                                      == card["approval_id"]))
        latest_id = latest.id
    clock.advance(hours=1)
    ingest(client, [event("r-old", "inbound_reply", at=clock.now(), text="re: your first note",
                          in_reply_to=older.message_id)])
    assert {r.outbox_id for r in outcomes(rt, "reply")} == {older.id}
    # Without threading headers the latest email sent before the reply gets it.
    ingest(client, [event("r-new", "inbound_reply", at=clock.now(), text="thanks")])
    assert {r.outbox_id for r in outcomes(rt, "reply")} == {older.id, latest_id}


def test_meeting_and_unsubscribe_after_the_send_count_but_not_before(
        client, worker, rt, clock, smtp_sink) -> None:
    card = pending_card(client, worker)
    # Before anything was sent: nothing to credit.
    ingest(client, [event("m-0", "meeting_booked", at=clock.now())])
    assert outcomes(rt, "meeting") == []
    assert decide(client, card["approval_id"], action="approve",
                  actor=card["assignee"]).status_code == 200
    worker.run_until_idle()
    clock.advance(days=2)
    ingest(client, [event("m-1", "meeting_booked", at=clock.now()),
                    event("m-2", "meeting_booked", at=clock.now() + timedelta(hours=1))])
    meetings = outcomes(rt, "meeting")
    assert len(meetings) == 2 and {m.event_id for m in meetings} == {"m-1"}  # once per lead
    ingest(client, [event("u-1", "unsubscribe", at=clock.now(), reason="marked as spam")])
    assert len(outcomes(rt, "unsubscribe")) == 2
    assert len(outcomes(rt, "complaint")) == 2
    # Another lead's events never touch this lead's variants.
    ingest(client, [event("u-b", "unsubscribe", at=clock.now(), lead=BOB)])
    assert {o.lead_id for o in outcomes(rt, "unsubscribe")} == {card["lead_id"]}


def test_an_event_long_after_the_send_is_not_credited(client, worker, rt, clock) -> None:
    _send(client, worker)
    clock.advance(days=45)
    ingest(client, [event("late", "meeting_booked", at=clock.now())])
    assert outcomes(rt, "meeting") == []


def _forced(tmp_path: Path, stage: str, index: int, change: str | None = None) -> str:
    """A policy whose one experiment puts (almost) everybody in variant `index`."""
    split = [1e-9, 1 - 1e-9] if index == 1 else [1 - 1e-9, 1e-9]
    change = change or {"offline_template": 'instruction = "keep it short"',
                        "drafting_prompt": 'instruction = "write in a formal tone"',
                        "policy_threshold": 'thresholds = { "bands.A" = 55, "bands.B" = 20 }'
                        }[stage]
    return f"""
[[experiments]]
name = "gate"
stage = "{stage}"
split = {split}
starts_at = 2026-11-01T00:00:00Z
[[experiments.variants]]
name = "control"
[[experiments.variants]]
name = "changed"
{change}
"""


@pytest.mark.parametrize("stage", ["offline_template", "drafting_prompt", "policy_threshold"])
@pytest.mark.parametrize("index", [0, 1])
def test_the_approval_gate_is_the_same_under_every_variant(
        tmp_path, clock, content_library, smtp_sink, stage, index) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from hitl.wiring import build_runtime
    from service.worker import Worker
    from tests.conftest import TOKEN

    folder = tmp_path / f"{stage}-{index}"
    folder.mkdir()
    settings = make_settings(folder, smtp_url=smtp_sink.url,
                             policy_file=policy_with_experiments(folder, _forced(folder, stage,
                                                                                 index)))
    rt = build_runtime(settings, clock=clock, library_override=content_library)
    rt.db.upgrade()
    worker = Worker(rt, threads=2)
    try:
        with TestClient(create_app(rt), headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            card = pending_card(client, worker)
            assert assignments(rt)[("gate", card["lead_id"])] == ["control", "changed"][index]
            # Waiting for a person: nothing queued, nothing sent, the same choices offered.
            assert card["status"] == "pending" and card["send_status"] == "not_applicable"
            assert smtp_sink.messages == [] and _sent(rt, card["lead_id"]) is None
            assert card["request"]["review_configs"] == GATE
            owner = rt.roster.find(card["assignee"])
            assert owner is not None and owner.role in ("rep", "manager")
            worker.run_until_idle()
            assert smtp_sink.messages == []
            # A stranger still cannot decide; the assignee can, and only then it is sent.
            assert decide(client, card["approval_id"], action="approve",
                          actor="stranger@elsewhere.example").status_code == 403
            assert decide(client, card["approval_id"], action="approve",
                          actor=card["assignee"]).status_code == 200
            worker.run_until_idle()
            assert len(smtp_sink.messages) == 1
    finally:
        worker.stop()
        rt.close()


def test_erasing_the_lead_erases_its_experiment_rows(client, worker, rt, clock) -> None:
    card = _send(client, worker)
    ingest(client, [event("r-e", "inbound_reply", at=clock.now() + timedelta(hours=1),
                          text="yes")])
    assert outcomes(rt, "reply") and assignments(rt)
    assert client.delete(f"/v1/leads/{card['lead_id']}").status_code == 200
    assert outcomes(rt) == [] and assignments(rt) == {}


@pytest.mark.parametrize(("index", "minutes"), [(0, 15), (1, 5)])
def test_a_threshold_variant_sets_the_handoffs_sla(tmp_path, clock, content_library, smtp_sink,
                                                   index, minutes) -> None:
    """`sla.hand_raise.minutes` 15 (the policy) vs 5 (the variant): the lead's handoff is due
    when its variant says, and the card still waits for a person."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from hitl.wiring import build_runtime
    from service.worker import Worker
    from tests.conftest import TOKEN

    extra = _forced(tmp_path, "policy_threshold", index,
                    'thresholds = { "sla.hand_raise.minutes" = 5 }')
    settings = make_settings(tmp_path, smtp_url=smtp_sink.url,
                             policy_file=policy_with_experiments(tmp_path, extra))
    rt = build_runtime(settings, clock=clock, library_override=content_library)
    rt.db.upgrade()
    worker = Worker(rt, threads=2)
    try:
        with TestClient(create_app(rt), headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            card = pending_card(client, worker)
            assert card["sla_due_at"].startswith(
                (clock.now() + timedelta(minutes=minutes)).isoformat()[:19])
            assert card["status"] == "pending" and smtp_sink.messages == []
    finally:
        worker.stop()
        rt.close()
