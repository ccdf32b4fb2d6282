"""The handoff end to end through the REST API, a real SMTP server and the worker."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select

from store.tables import OutboxMessage
from tests.conftest import LEAD_ADA, T0, event, hand_raise
from tests.flow import decide, ingest, pending_card


def test_card_waits_for_a_human_then_approve_sends_exactly_once(client, worker, smtp_sink, rt) -> None:
    card = pending_card(client, worker)
    assert smtp_sink.messages == []  # nothing goes out before a human approves
    assert card["assignee"] == "U0REP0001" and card["version"] == 1
    assert card["draft"]["to"] == "ada@acme.io"
    assert card["draft"]["note"] == "offline draft"
    assert card["sla_due_at"] is not None
    assert card["context"]["top_signals"][0]["event_id"] == "e-3"
    request = card["request"]
    # LangChain v1's HITLRequest (agent/hitl_protocol.py): send_email, then escalate.
    assert [a["name"] for a in request["action_requests"]] == ["send_email", "escalate"]
    assert request["action_requests"][0]["args"]["to"] == "ada@acme.io"
    assert request["review_configs"][0]["allowed_decisions"] == ["approve", "edit", "reject",
                                                                 "respond"]

    response = decide(client, card["approval_id"], action="approve", actor="U0REP0001")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "approved"
    worker.run_until_idle()

    [mail] = smtp_sink.messages
    assert mail.rcpt_tos == ["ada@acme.io"]
    assert mail.subject == card["draft"]["subject"]
    assert mail.body.strip() == card["draft"]["body"].strip()
    assert mail.message["Message-ID"].startswith("<out_")
    assert mail.message["List-Unsubscribe"].startswith("<mailto:")
    assert mail.message["From"].endswith("<riley@example.com>")

    again = decide(client, card["approval_id"], action="approve", actor="U0REP0001")
    assert again.status_code == 409 and "already approved" in again.json()["detail"]
    worker.run_until_idle()
    assert len(smtp_sink.messages) == 1
    lead = client.get(f"/v1/leads/{card['lead_id']}").json()
    assert lead["stage"] == "contacted" and lead["owner"] == "U0REP0001"


def test_edit_sends_the_edited_text(client, worker, smtp_sink) -> None:
    card = pending_card(client, worker)
    response = decide(client, card["approval_id"], action="edit", actor="riley@example.com",
                      subject="Your demo, Ada", body="Hi Ada,\n\nEdited by Riley.\n\nRiley")
    assert response.status_code == 200 and response.json()["status"] == "edited"
    worker.run_until_idle()
    [mail] = smtp_sink.messages
    assert mail.subject == "Your demo, Ada"
    assert "Edited by Riley." in mail.body


def test_reject_recycles_with_reason_and_suppression(client, worker, smtp_sink, rt, clock) -> None:
    card = pending_card(client, worker)
    missing = decide(client, card["approval_id"], action="reject", actor="U0REP0001")
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "reason_code"
    response = decide(client, card["approval_id"], action="reject", actor="U0REP0001",
                      reason_code="not_now")
    assert response.status_code == 200
    worker.run_until_idle()
    assert smtp_sink.messages == []
    lead = client.get(f"/v1/leads/{card['lead_id']}").json()
    rule = rt.policy.dispositions["not_now"]
    assert lead["stage"] == "recycled" and lead["owner"] is None
    assert lead["nurture_track"] == rule.nurture_track
    assert lead["suppression_reason"] == "not_now"
    assert lead["suppressed_until"].startswith(
        (T0 + timedelta(days=rule.suppress_days)).date().isoformat())

    # While suppressed, a page view is recorded but starts nothing...
    clock.advance(hours=3)
    ingest(client, [event("later-1", "page_view", at=T0 + timedelta(hours=1),
                          url="https://vendor.example/pricing")])
    worker.run_until_idle()
    assert client.get("/v1/approvals").json() == []
    # ...but a fresh hand-raise overrides a not_now suppression, as the policy allows.
    ingest(client, [event("later-2", "form_submit", at=T0 + timedelta(hours=2), form="demo")])
    worker.run_until_idle()
    cards = client.get("/v1/approvals").json()
    assert len(cards) == 1 and cards[0]["context"]["top_signals"][0]["event_id"] == "later-2"


def test_revise_supersedes_the_old_version(client, worker, smtp_sink) -> None:
    card = pending_card(client, worker)
    missing = decide(client, card["approval_id"], action="revise", actor="U0REP0001")
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "instruction"
    response = decide(client, card["approval_id"], action="revise", actor="U0REP0001",
                      instruction="shorter")
    assert response.status_code == 200 and response.json()["status"] == "revised"
    worker.run_until_idle()
    [v2] = client.get("/v1/approvals").json()
    assert v2["version"] == 2 and v2["approval_id"] != card["approval_id"]
    stale = decide(client, card["approval_id"], action="approve", actor="U0REP0001")
    assert stale.status_code == 409
    assert decide(client, v2["approval_id"], action="approve",
                  actor="U0REP0001").status_code == 200
    worker.run_until_idle()
    [mail] = smtp_sink.messages
    assert mail.subject == v2["draft"]["subject"]


def test_escalate_hands_the_card_to_a_manager(client, worker, smtp_sink) -> None:
    card = pending_card(client, worker)
    bad = decide(client, card["approval_id"], action="escalate", actor="U0REP0001",
                 escalate_to="nobody@nowhere.io")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "escalate_to"
    # Not to its holder (that only restarted the SLA) nor to the support team.
    for target, says in (("U0REP0001", "already holds this approval"),
                         ("U0SUP0001", "is on the support team")):
        refused = decide(client, card["approval_id"], action="escalate", actor="U0REP0001",
                         escalate_to=target)
        assert refused.status_code == 422 and says in refused.json()["detail"], refused.json()
    response = decide(client, card["approval_id"], action="escalate", actor="U0REP0001",
                      note="big account, please look")
    assert response.status_code == 200
    worker.run_until_idle()
    [v2] = client.get("/v1/approvals").json()
    assert v2["assignee"] == "U0MGR0001" and v2["version"] == 2
    # The new holder sends it as themselves: same text, their sign-off, their From address.
    assert card["draft"]["body"].rstrip().endswith("\nRiley Rep")
    assert v2["draft"]["body"] == card["draft"]["body"].rstrip().removesuffix("Riley Rep") \
        + "Morgan Manager"
    # The card says who held it before and why it came.
    assert v2["request"]["escalation"]["from"] == "U0REP0001"
    assert v2["request"]["escalation"]["note"] == "big account, please look"
    assert "Escalated to you" in v2["request"]["action_requests"][0]["description"]
    # The original rep no longer holds it; the manager can approve.
    assert decide(client, v2["approval_id"], action="approve",
                  actor="U0REP0001").status_code == 403
    decided = decide(client, v2["approval_id"], action="approve", actor="U0MGR0001")
    assert decided.status_code == 200
    assert decided.json()["decision"]["actor"] == "U0MGR0001"
    worker.run_until_idle()
    [mail] = smtp_sink.messages
    assert mail.mail_from == "morgan@example.com"
    assert "Morgan Manager" in mail.message["From"]
    assert mail.body.rstrip().endswith("Morgan Manager")


def test_strangers_are_refused_and_change_nothing(client, worker, smtp_sink) -> None:
    card = pending_card(client, worker)
    for actor in ("U0REP0002", "someone@evil.test", "U0SUP0001"):
        response = decide(client, card["approval_id"], action="approve", actor=actor)
        assert response.status_code == 403, actor
    assert decide(client, "ap_missing_v1", action="approve", actor="U0REP0001").status_code == 404
    worker.run_until_idle()
    assert smtp_sink.messages == []
    assert client.get("/v1/approvals").json()[0]["status"] == "pending"


def test_concurrent_double_approve_sends_once(client, worker, smtp_sink) -> None:
    card = pending_card(client, worker)
    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def click(actor: str) -> None:
        barrier.wait()
        statuses.append(decide(client, card["approval_id"], action="approve",
                               actor=actor).status_code)

    threads = [threading.Thread(target=click, args=("U0REP0001" if i % 2 else "U0MGR0001",))
               for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] + [409] * 7
    worker.run_until_idle()
    assert len(smtp_sink.messages) == 1


def test_unsubscribe_after_approval_blocks_the_send(client, worker, smtp_sink, rt) -> None:
    card = pending_card(client, worker)
    ingest(client, [event("unsub-1", "unsubscribe", at=T0 + timedelta(minutes=1))])
    worker.run_until_idle()
    assert decide(client, card["approval_id"], action="approve",
                  actor="U0REP0001").status_code == 200
    worker.run_until_idle()
    assert smtp_sink.messages == []
    with rt.db.session() as s:
        message = s.scalars(select(OutboxMessage)).one()
        assert message.status == "blocked" and "unsubscribed" in message.status_detail
    lead = client.get(f"/v1/leads/{card['lead_id']}").json()
    assert lead["stage"] == "blocked" and lead["unsubscribed"] is True


def test_frequency_cap_blocks_a_third_message_in_a_week(client, worker, smtp_sink, rt, clock) -> None:
    for round_ in range(3):
        ingest(client, [event(f"hr-{round_}", "form_submit",
                              at=clock.now() - timedelta(minutes=1), form="demo")])
        worker.run_until_idle()
        [card] = client.get("/v1/approvals").json()
        assert decide(client, card["approval_id"], action="approve",
                      actor="U0REP0001").status_code == 200
        worker.run_until_idle()
        clock.advance(hours=4)
    assert len(smtp_sink.messages) == rt.policy.caps.max_messages_per_week == 2
    with rt.db.session() as s:
        blocked = s.scalars(select(OutboxMessage).where(OutboxMessage.status == "blocked")).one()
        assert "frequency cap" in blocked.status_detail


def test_without_smtp_the_send_is_recorded_not_dropped(tmp_path, clock, content_library) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from hitl.wiring import build_runtime
    from service.worker import Worker
    from tests.conftest import TOKEN, make_settings

    rt = build_runtime(make_settings(tmp_path), clock=clock, library_override=content_library)
    rt.db.upgrade()
    worker = Worker(rt, threads=2)
    with TestClient(create_app(rt), headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        card = pending_card(client, worker)
        decide(client, card["approval_id"], action="approve", actor="U0REP0001")
        worker.run_until_idle()
    worker.stop()
    with rt.db.session() as s:
        message = s.scalars(select(OutboxMessage)).one()
        assert (message.status, message.status_detail) == (
            "not_sent", "not_sent: no sender configured")
    rt.close()


def test_nurture_and_disqualified_leads_never_reach_a_human(client, worker) -> None:
    early = dict(LEAD_ADA, email="finn@tinybakery.co", employees=12, company="Tiny Bakery",
                 domain="tinybakery.co", title="Owner", industry="Food")
    rival = dict(LEAD_ADA, email="spy@rivalsoft.com", domain="rivalsoft.com")
    refs = ingest(client, [
        event("n-1", "form_submit", at=T0, lead=early, form="newsletter"),
        event("n-2", "page_view", at=T0, lead=early, url="https://vendor.example/blog/x"),
        event("d-1", "form_submit", at=T0, lead=rival, form="demo"),
    ])["leads"]
    worker.run_until_idle()
    assert client.get("/v1/approvals").json() == []
    leads = {r["email"]: client.get(f"/v1/leads/{r['lead_id']}").json() for r in refs}
    assert leads["finn@tinybakery.co"]["route"] == "nurture"
    assert leads["finn@tinybakery.co"]["stage"] == "nurture"
    assert leads["spy@rivalsoft.com"]["band"] == "disqualified"
    assert leads["spy@rivalsoft.com"]["disqualifiers"][0]["code"] == "competitor"


def test_one_owner_at_a_time(client, worker) -> None:
    card = pending_card(client, worker)
    ingest(client, [event("again-1", "form_submit", at=T0, form="pricing")])
    worker.run_until_idle()
    cards = client.get("/v1/approvals").json()
    assert [c["approval_id"] for c in cards] == [card["approval_id"]]


def test_lead_and_context_endpoints(client, worker) -> None:
    card = pending_card(client, worker)
    lead = client.get(f"/v1/leads/{card['lead_id']}").json()
    for key in ("score", "band", "disqualifiers", "owner", "stage", "sla_due_at",
                "suppressed_until"):
        assert key in lead
    assert lead["band"] in ("A", "B") and lead["route"] == "hand_raise"
    context = client.get(f"/v1/leads/{card['lead_id']}/context").json()
    for key in ("why_now", "top_signals", "last_touch", "source", "campaign", "fit",
                "recommended_action", "risks"):
        assert key in context
    assert len(context["top_signals"]) <= 3
    assert context["campaign"] == "Q4 webinar"
    assert client.get("/v1/leads/lead_nope").status_code == 404


def test_erasure_removes_personal_data_and_checkpoints(client, worker, rt) -> None:
    card = pending_card(client, worker)
    response = client.delete(f"/v1/leads/{card['lead_id']}")
    assert response.status_code == 200 and response.json()["erased"] is True
    assert client.get(f"/v1/leads/{card['lead_id']}").status_code == 404
    assert client.get("/v1/approvals").json() == []
    handoff_id = card["handoff_id"]
    assert not rt.graph.get_state({"configurable": {"thread_id": handoff_id}}).values
    import sqlite3

    dump = "\n".join(sqlite3.connect(rt.db.url.removeprefix("sqlite:///")).iterdump())
    assert "ada@acme.io" not in dump and "Park" not in dump
    # A replayed webhook for an erased event cannot bring the person back.
    replay = ingest(client, hand_raise())
    assert replay["accepted"] == 0 and replay["duplicates"] == 3


BAD_DECISIONS = [
    ({"action": "edit", "actor": "U0REP0001"}, "body"),
    ({"action": "edit", "actor": "U0REP0001", "body": "x", "subject": " "}, "subject"),
    ({"action": "revise", "actor": "U0REP0001", "instruction": "  "}, "instruction"),
    ({"action": "reject", "actor": "U0REP0001", "reason_code": "bored"}, "reason_code"),
    ({"action": "ignore", "actor": "U0REP0001"}, "action"),
    ({"action": "approve"}, "actor"),
    ({"action": "approve", "actor": "U0REP0001", "to": "attacker@evil.test"}, "to"),
]


def test_each_invalid_decision_is_a_named_422_and_changes_nothing(client, worker, smtp_sink) -> None:
    card = pending_card(client, worker)
    for body, field in BAD_DECISIONS:
        response = decide(client, card["approval_id"], **body)
        assert response.status_code == 422, body
        assert field in [e["field"] for e in response.json()["errors"]], response.json()
    assert client.get("/v1/approvals", params={"status": "bogus"}).status_code == 422
    worker.run_until_idle()
    assert client.get("/v1/approvals").json()[0]["status"] == "pending"
    assert smtp_sink.messages == []
