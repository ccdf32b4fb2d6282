"""The seeds' "unresponsive after outreach -> recycle to automation after X attempts, recycle at
day 7-14", through the real flow on an injected clock: cards approved, emails sent over SMTP,
the `no_response_check` timer run by the worker (no sleeping)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from service.nurture import check_no_response
from store.tables import AuditEntry, Job, Lead
from tests.conftest import T0, event
from tests.flow import decide, ingest, pending_card


def audits(rt: Any, action: str) -> list[AuditEntry]:
    with rt.db.session() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def checks(rt: Any) -> list[dict[str, Any]]:
    with rt.db.session() as s:
        return [dict(j.payload, run_at=j.run_at) for j in s.scalars(
            select(Job).where(Job.kind == "no_response_check"))]


def approve(client: Any, worker: Any, card: dict[str, Any]) -> None:
    assert decide(client, card["approval_id"], action="approve",
                  actor=card["assignee"]).status_code == 200
    worker.run_until_idle()


def send_first_email(client: Any, worker: Any, smtp_sink: Any) -> dict[str, Any]:
    card = pending_card(client, worker)
    approve(client, worker, card)
    assert [m.rcpt_tos for m in smtp_sink.messages] == [[card["draft"]["to"]]]
    return card


def hand_raise_again(client: Any, worker: Any, clock: Any, event_id: str, type_: str,
                     **props: Any) -> dict[str, Any]:
    """The lead does something that reaches a person again; return the new pending card."""
    ingest(client, [event(event_id, type_, at=clock.now() - timedelta(minutes=2), **props)])
    worker.run_until_idle()
    [card] = client.get("/v1/approvals", params={"status": "pending"}).json()
    return card


def lead_view(client: Any, lead_id: str) -> dict[str, Any]:
    return client.get(f"/v1/leads/{lead_id}").json()


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_two_attempts_without_a_reply_recycle_on_day_7_exactly_once(
        client, worker, rt, clock, smtp_sink) -> None:
    first = send_first_email(client, worker, smtp_sink)
    lead_id = first["lead_id"]
    assert lead_view(client, lead_id)["stage"] == "contacted"
    assert checks(rt)  # the timer exists as soon as the first email went out

    clock.advance(days=2)  # a second attempt: the lead asks for pricing, the rep writes again
    second = hand_raise_again(client, worker, clock, "again-1", "form_submit", form="pricing")
    approve(client, worker, second)
    assert len(smtp_sink.messages) == 2

    clock.advance(days=4, hours=23)  # day 6.96 after the first email: still waiting
    worker.run_until_idle()
    assert audits(rt, "recycled") == []
    assert lead_view(client, lead_id)["stage"] == "contacted"

    clock.advance(hours=2)  # day 7: two attempts, no connect -> back to automation
    worker.run_until_idle()
    [recycled] = audits(rt, "recycled")
    assert recycled.actor == "system" and recycled.lead_id == lead_id
    assert recycled.detail["reason"] == "no_response"
    assert (recycled.detail["attempts"], recycled.detail["replies"]) == (2, 0)
    view = lead_view(client, lead_id)
    rule = rt.policy.dispositions["no_response"]
    assert view["stage"] == "recycled" and view["suppression_reason"] == "no_response"
    assert view["nurture_track"] == rule.nurture_track and view["owner"] is None
    assert view["suppressed_until"].startswith(
        (clock.now() + timedelta(days=rule.suppress_days)).date().isoformat())
    [enrolment] = audits(rt, "nurture_enrolment")
    assert enrolment.detail["reason"] == "no_response"

    # Replayed (a crash after the commit, a duplicate job) and the first email's own day-14
    # timer still queued: nothing happens twice.
    with rt.db.session() as s:
        recycled_at = s.get(Lead, lead_id).recycled_at
    assert [c["since"] for c in checks(rt)] == [recycled.detail["first_attempt_at"]]
    check_no_response(rt, {"lead_id": lead_id, "since": recycled.detail["first_attempt_at"]})
    clock.advance(days=10)
    worker.run_until_idle()
    assert checks(rt) == []
    assert len(audits(rt, "recycled")) == 1
    with rt.db.session() as s:
        assert s.get(Lead, lead_id).recycled_at == recycled_at
    # Recycling never emails the lead itself (its former owner is told: test_recycle_writeback).
    assert [m.rcpt_tos for m in smtp_sink.messages].count([first["draft"]["to"]]) == 2


def test_a_single_attempt_is_recycled_when_day_14_passes(client, worker, rt, clock,
                                                           smtp_sink) -> None:
    first = send_first_email(client, worker, smtp_sink)
    clock.advance(days=7, hours=1)
    worker.run_until_idle()
    assert audits(rt, "recycled") == []  # one attempt: the sequence is not over on day 7
    [pending] = checks(rt)
    assert pending["run_at"].replace(tzinfo=T0.tzinfo) == T0 + timedelta(days=14)

    clock.advance(days=7)
    worker.run_until_idle()
    [recycled] = audits(rt, "recycled")
    assert recycled.detail["attempts"] == 1
    assert recycled.detail["days_since_first_attempt"] == 14
    assert lead_view(client, first["lead_id"])["stage"] == "recycled"


def test_a_reply_stops_the_recycle_and_starts_a_new_count(client, worker, rt, clock,
                                                          smtp_sink) -> None:
    first = send_first_email(client, worker, smtp_sink)
    clock.advance(days=3)
    reply = hand_raise_again(client, worker, clock, "reply-1", "inbound_reply",
                             text="Thanks, can we talk next week?")
    approve(client, worker, reply)  # the rep answers the reply: a new outreach cycle
    assert len(smtp_sink.messages) == 2

    clock.advance(days=11, hours=1)  # day 14 of the first email: it was answered
    worker.run_until_idle()
    assert audits(rt, "recycled") == []
    assert lead_view(client, first["lead_id"])["stage"] == "contacted"

    clock.advance(days=3)  # day 14 of the answer to the reply, itself never answered
    worker.run_until_idle()
    [recycled] = audits(rt, "recycled")
    assert (recycled.detail["attempts"], recycled.detail["replies"]) == (1, 0)


def test_a_lead_a_person_holds_again_is_not_recycled(client, worker, rt, clock,
                                                     smtp_sink) -> None:
    first = send_first_email(client, worker, smtp_sink)
    clock.advance(days=13)
    hand_raise_again(client, worker, clock, "again-2", "form_submit", form="contact")
    clock.advance(days=2)  # past day 14, but a card is waiting for the rep: one owner at a time
    worker.run_until_idle()
    assert audits(rt, "recycled") == []
    assert lead_view(client, first["lead_id"])["stage"] == "assigned"
