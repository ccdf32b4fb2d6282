"""Drill: an SMTP server that refuses, or drops the connection in the middle of a message.

A small SMTP server written for the drills (tests/drills/smtp_script.py) decides per connection what to do after the whole
message was sent: accept (250), refuse for now (451), refuse for good (550), or hang up
without answering. Transient trouble is retried until the message is delivered once; a final
refusal is reported, never retried into a duplicate; every state is visible in the outbox row
(`status`, `status_detail`, `attempts`), the audit log and `/metrics`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from store.tables import AuditEntry, Job, OutboxMessage
from tests.conftest import TOKEN, make_settings
from tests.drills.smtp_script import ScriptedSmtp
from tests.flow import decide, pending_card


@pytest.fixture
def scripted() -> Iterator[ScriptedSmtp]:
    server = ScriptedSmtp()
    yield server
    server.close()


@pytest.fixture
def settings(tmp_path, scripted, database_url):  # type: ignore[no-untyped-def]
    return make_settings(tmp_path, smtp_url=scripted.url, database_url=database_url)


def _outbox(rt: Any) -> OutboxMessage:
    with rt.db.session() as s:
        return s.scalars(select(OutboxMessage)).one()


def _metric(client: Any, name: str, status: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f'{name}{{status="{status}"}}'):
            return float(line.split()[-1])
    return 0.0


def test_drop_mid_message_then_refusal_then_delivery(client, worker, rt, clock,
                                                     scripted) -> None:
    card = pending_card(client, worker)
    scripted.script.extend(["drop", "temp"])
    assert decide(client, card["approval_id"], action="approve",
                  actor="U0REP0001").status_code == 200

    worker.run_until_idle()  # first try: the server hangs up after the message
    message = _outbox(rt)
    assert message.status == "pending" and message.attempts == 1
    assert "SMTP connection failed" in (message.status_detail or "")
    assert scripted.delivered == []

    clock.advance(minutes=5)  # past the job's backoff: the server now says 451
    worker.run_until_idle()
    message = _outbox(rt)
    assert message.status == "pending" and message.attempts == 2
    assert "451" in (message.status_detail or "")

    clock.advance(minutes=5)
    worker.run_until_idle()
    message = _outbox(rt)
    assert message.status == "sent" and message.attempts == 3 and message.status_detail is None
    assert len(scripted.delivered) == 1 and scripted.conversations == 3
    assert _metric(client, "hitl_emails_total", "retry") == 2
    assert _metric(client, "hitl_emails_total", "sent") == 1

    # Nothing more, however often the work is replayed.
    clock.advance(hours=1)
    worker.run_until_idle()
    assert len(scripted.delivered) == 1


def test_a_final_refusal_is_reported_and_never_retried(client, worker, rt, clock,
                                                       scripted) -> None:
    card = pending_card(client, worker)
    scripted.script.append("perm")
    decide(client, card["approval_id"], action="approve", actor="U0REP0001")
    worker.run_until_idle()
    message = _outbox(rt)
    assert message.status == "failed" and "550" in (message.status_detail or "")
    assert _metric(client, "hitl_emails_total", "failed") == 1
    with rt.db.session() as s:
        actions = set(s.scalars(select(AuditEntry.action)))
    assert "email_failed" in actions
    lead = client.get(f"/v1/leads/{card['lead_id']}").json()
    assert lead["stage"] == "failed"
    clock.advance(hours=2)
    worker.run_until_idle()
    assert scripted.conversations == 1 and scripted.delivered == []


def test_a_server_that_keeps_refusing_is_parked_visibly(client, worker, rt, clock,
                                                        scripted) -> None:
    """Always 451: retried with backoff, then the job is parked (failed_at) where operators
    see it, with the outbox row still saying why, and nothing was sent."""
    card = pending_card(client, worker)
    scripted.script.extend(["temp"] * 50)
    decide(client, card["approval_id"], action="approve", actor="U0REP0001")
    for _ in range(12):
        worker.run_until_idle()
        clock.advance(minutes=15)
    message = _outbox(rt)
    assert message.status == "pending" and "451" in (message.status_detail or "")
    assert scripted.delivered == []
    with rt.db.session() as s:
        parked = s.scalars(select(Job).where(Job.failed_at.is_not(None))).all()
    assert [j.kind for j in parked] == ["resume_handoff"]
    assert "451" in (parked[0].last_error or "")
    text = client.get("/metrics").text
    assert 'hitl_jobs_failed_total{kind="resume_handoff"} 1.0' in text
    assert TOKEN  # the API stayed usable throughout
