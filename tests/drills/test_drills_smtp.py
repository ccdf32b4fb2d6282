"""Drill: an SMTP server that refuses, hangs up, stays down, or refuses for good.

A small SMTP server written for the drills (tests/smtp_script.py) decides per connection
what to do after the whole message was sent: accept (250), refuse for now (451), refuse for
good (550), or hang up without answering (with or without having delivered it); a port with
nothing listening is a server that is down. Transient trouble is retried for
`HITL_SEND_RETRY_HOURS` (time, not attempts) until the message is delivered once; a final
refusal fails at once with the server's words; a hang-up after the message is never resent by
itself (the server may have delivered it) but parked for a person; whatever happens is visible
on the approval (`send_status`), in `/v1/outbox`, the audit log and `/metrics`, and a failed
message can be retried by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from service.lifecycle import OUTCOME_UNKNOWN
from store.tables import AuditEntry, Job, OutboxMessage
from tests.conftest import make_settings
from tests.flow import decide, pending_card
from tests.smtp_script import ScriptedSmtp


@pytest.fixture
def scripted() -> Iterator[ScriptedSmtp]:
    server = ScriptedSmtp()
    yield server
    server.close()


@pytest.fixture
def settings(tmp_path, scripted, database_url):  # type: ignore[no-untyped-def]
    return make_settings(tmp_path, smtp_url=scripted.url, database_url=database_url,
                         send_retry_hours=2)


def _outbox(rt: Any) -> OutboxMessage:
    with rt.db.session() as s:
        return s.scalars(select(OutboxMessage)).one()


def _metric(client: Any, name: str, status: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f'{name}{{status="{status}"}}'):
            return float(line.split()[-1])
    return 0.0


def _approval(client: Any, approval_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/approvals/{approval_id}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _run_until(worker: Any, clock: Any, rt: Any, status: str, *, step: timedelta,
               limit: int = 200) -> int:
    """Advance the injected clock step by step, running due work, until the message reaches
    `status`; returns how many steps it took."""
    for steps in range(limit):
        worker.run_until_idle()
        if _outbox(rt).status == status:
            return steps
        clock.advance(seconds=step.total_seconds())
    raise AssertionError(f"outbox never reached {status}: {_outbox(rt).status}")


def test_a_hang_up_after_the_message_is_parked_then_a_retry_rides_out_a_refusal(
        client, worker, rt, clock, scripted) -> None:
    card = pending_card(client, worker)
    scripted.script.extend(["drop", "temp"])
    decided = decide(client, card["approval_id"], action="approve", actor="U0REP0001")
    assert decided.status_code == 200
    assert decided.json()["send_status"] == "queued"
    assert decided.json()["decision"]["action"] == "approve"
    lead = client.get(f"/v1/leads/{card['lead_id']}").json()
    assert lead["stage"] == "approved"  # out of awaiting_approval at the decision

    worker.run_until_idle()  # first try: the server hangs up after the message, unanswered
    message = _outbox(rt)
    assert message.status == "failed" and message.attempts == 1
    assert message.status_detail.startswith(f"{OUTCOME_UNKNOWN}: no answer from the mail "
                                            "server after the message was handed over")
    view = _approval(client, card["approval_id"])
    assert view["send_status"] == "failed" and message.message_id in view["send_detail"]
    assert view["decision"]["actor"] == "U0REP0001"
    with rt.db.session() as s:
        assert "email_outcome_unknown" in set(s.scalars(select(AuditEntry.action)))
    clock.advance(hours=5)  # past the whole retry budget: it may have arrived, never resent
    worker.run_until_idle()
    assert scripted.conversations == 1 and scripted.delivered == []

    # A person checked that it did not arrive and retries; the server now says 451 once.
    assert client.post(f"/v1/outbox/{message.id}/retry").status_code == 200
    worker.run_until_idle()
    message = _outbox(rt)
    assert message.status == "retrying" and message.attempts == 2
    assert "451" in (message.last_error or "")
    assert _approval(client, card["approval_id"])["send_status"] == "retrying"

    clock.advance(minutes=5)
    worker.run_until_idle()
    message = _outbox(rt)
    assert message.status == "sent" and message.attempts == 3 and message.status_detail is None
    assert len(scripted.delivered) == 1 and scripted.conversations == 3
    assert _metric(client, "hitl_emails_total", "failed") == 1
    assert _metric(client, "hitl_emails_total", "retry") == 1
    assert _metric(client, "hitl_emails_total", "sent") == 1
    assert _approval(client, card["approval_id"])["send_status"] == "sent"
    assert client.get(f"/v1/leads/{card['lead_id']}").json()["stage"] == "contacted"

    # Nothing more, however often the work is replayed.
    clock.advance(hours=1)
    worker.run_until_idle()
    assert len(scripted.delivered) == 1


def test_a_lost_answer_after_delivery_never_becomes_a_second_copy(client, worker, rt, clock,
                                                                  scripted) -> None:
    """RFC 1047: the server delivered the message and the connection broke before its 250
    reached us. Resending would deliver it twice; it is parked and the holder told."""
    card = pending_card(client, worker)
    scripted.script.extend(["temp", "deliver_and_drop"])  # a 451 first, then the lost answer
    decide(client, card["approval_id"], action="approve", actor="U0REP0001")
    worker.run_until_idle()
    clock.advance(minutes=5)
    for _ in range(3):
        worker.run_until_idle()
        clock.advance(hours=30)  # past HITL_SEND_RETRY_HOURS and every job's budget
    assert len(scripted.delivered) == 1 and scripted.conversations == 2
    message = _outbox(rt)
    assert message.status == "failed" and message.status_detail.startswith(OUTCOME_UNKNOWN)
    [listed] = client.get("/v1/outbox", params={"status": "failed"}).json()
    assert listed["outbox_id"] == message.id and listed["detail"] == message.status_detail
    assert listed["last_error"].startswith(OUTCOME_UNKNOWN)
    # Slack is off here: the holder and a manager are told by email, and told to check first,
    # not to resend (the lead may have it), with the advice the detail ends with, whole.
    assert len(scripted.notices) == 2
    for notice in (n.decode().replace("=\r\n", "").replace("\r\n", "\n")
                   for n in scripted.notices):
        assert "may or may not have arrived" in notice and "was not sent," not in notice
        assert "Check with the lead or the mail server's log first" in notice
        assert "retry it only if it did not arrive" in " ".join(notice.split())


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_an_attempt_that_died_after_the_handover_is_parked_not_resent(
        client, worker, rt, clock, scripted) -> None:
    """What a killed worker leaves (tests/drills/test_drill_kill9.py does it for real): the
    row `sending`, handed over, its lease run out. The next look parks it; a dead attempt
    that had not handed it over is resent."""
    from sqlalchemy import update

    card = pending_card(client, worker)
    decide(client, card["approval_id"], action="approve", actor="U0REP0001")
    dead = {"status": "sending", "attempts": 1, "locked_until": clock.now()}
    with rt.db.session() as s:
        s.execute(update(OutboxMessage).values(**dead, handed_over_at=clock.now()))
    clock.advance(minutes=20)
    worker.run_until_idle()
    message = _outbox(rt)
    assert message.status == "failed" and message.attempts == 1
    assert message.status_detail.startswith(OUTCOME_UNKNOWN)
    assert scripted.conversations == 0

    # Retried by a person, then killed again before the handover: resent by itself.
    assert client.post(f"/v1/outbox/{message.id}/retry").status_code == 200
    with rt.db.session() as s:
        s.execute(update(OutboxMessage).values(**dead, handed_over_at=None))
    clock.advance(minutes=20)
    worker.run_until_idle()
    assert _outbox(rt).status == "sent" and len(scripted.delivered) == 1


def test_an_odd_goodbye_after_the_250_is_still_sent(client, worker, rt, scripted) -> None:
    """The server accepted the message and answered QUIT with 421: delivered, recorded sent
    (smtplib's `with` raised here, which would have retried a delivered message)."""
    card = pending_card(client, worker)
    scripted.script.append("bad_quit")
    decide(client, card["approval_id"], action="approve", actor="U0REP0001")
    worker.run_until_idle()
    assert _outbox(rt).status == "sent" and len(scripted.delivered) == 1


def test_a_final_refusal_fails_at_once_visibly_and_a_retry_sends_once(client, worker, rt,
                                                                      clock, scripted) -> None:
    card = pending_card(client, worker)
    scripted.script.append("perm")
    decide(client, card["approval_id"], action="approve", actor="U0REP0001")
    worker.run_until_idle()
    message = _outbox(rt)
    assert message.status == "failed" and "550 5.1.1 no such user here" in (
        message.status_detail or "")
    assert _metric(client, "hitl_emails_total", "failed") == 1
    with rt.db.session() as s:
        actions = set(s.scalars(select(AuditEntry.action)))
    assert "email_failed" in actions
    assert client.get(f"/v1/leads/{card['lead_id']}").json()["stage"] == "failed"
    view = _approval(client, card["approval_id"])
    assert view["send_status"] == "failed" and "550" in view["send_detail"]
    failed = client.get("/v1/outbox", params={"status": "failed"}).json()
    assert [m["outbox_id"] for m in failed] == [message.id]
    assert client.get("/v1/outbox", params={"status": "retrying"}).json() == []
    clock.advance(hours=2)
    worker.run_until_idle()
    assert scripted.conversations == 1 and scripted.delivered == []
    # Slack is off here: the holder and a manager are told by email, once each.
    assert len(scripted.notices) == 2
    assert all(b"An approved email was not sent" in n for n in scripted.notices)

    # A person fixed the address book on the other side and retries: one email, same ID.
    retried = client.post(f"/v1/outbox/{message.id}/retry")
    assert retried.status_code == 200 and retried.json()["status"] == "retrying"
    worker.run_until_idle()
    sent = _outbox(rt)
    assert sent.status == "sent" and sent.message_id == message.message_id
    assert len(scripted.delivered) == 1
    assert f"Message-ID: {message.message_id}".encode() in scripted.delivered[0]
    again = client.post(f"/v1/outbox/{message.id}/retry")
    assert again.status_code == 409 and "already sent" in again.json()["detail"]
    worker.run_until_idle()
    assert len(scripted.delivered) == 1
    assert client.get(f"/v1/leads/{card['lead_id']}").json()["stage"] == "contacted"


def test_a_server_that_keeps_refusing_is_retried_for_the_budget_then_failed(
        client, worker, rt, clock, scripted) -> None:
    """Always 451: retried with capped backoff for HITL_SEND_RETRY_HOURS (2 h here), then
    `failed` with the server's words; the job queue parked nothing (the outbox owns the
    retries), and nothing was sent."""
    card = pending_card(client, worker)
    scripted.script.extend(["temp"] * 500)
    decided_at = clock.now()
    decide(client, card["approval_id"], action="approve", actor="U0REP0001")
    _run_until(worker, clock, rt, "failed", step=timedelta(minutes=5))
    message = _outbox(rt)
    assert clock.now() - decided_at >= timedelta(hours=2)
    assert clock.now() - decided_at < timedelta(hours=2, minutes=20)
    assert "gave up after 2 h" in (message.status_detail or "")
    assert "451" in (message.status_detail or "")
    # Backoff is capped at 15 minutes: at least 8 tries in 2 hours, far fewer than 5-minute steps.
    assert 8 <= message.attempts <= 20
    assert scripted.delivered == []
    with rt.db.session() as s:
        parked = s.scalars(select(Job).where(Job.failed_at.is_not(None))).all()
    assert parked == []
    assert _approval(client, card["approval_id"])["send_status"] == "failed"
    assert client.get(f"/v1/leads/{card['lead_id']}").json()["stage"] == "failed"
