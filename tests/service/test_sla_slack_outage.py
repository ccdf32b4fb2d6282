"""An SLA reminder or escalation Slack will not take goes by email (service/job_watch.py
`sla_nudge_failing`, service/notices.py `queue_slack_sla_notice`): after SLA_EMAIL_AFTER of
refusals, not SLACK_EMAIL_AFTER (the deadline has passed; the lead is reassigned one SLA period
later), once per approval and breach, never for a card decided meanwhile or a message Slack took
meanwhile. The real worker, the Slack fake answering 503, a real SMTP server on loopback, an
injected clock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from config.settings import Settings
from service.job_watch import SLA_EMAIL_AFTER, SLACK_EMAIL_AFTER
from store.tables import AuditEntry
from tests.flow import decide, pending_card, run_for

REMINDER = "SLA reminder: a lead is waiting for your decision"
ESCALATION = "SLA escalation: a lead was reassigned"


@pytest.fixture
def settings(slack_settings: Settings) -> Settings:
    return slack_settings



def _emails(smtp_sink: Any, subject: str) -> list[Any]:
    return [m for m in smtp_sink.messages if m.subject == subject]


def _sla_minutes(rt: Any) -> int:
    return int(rt.policy.sla["hand_raise"].minutes)


def _slack_down(fake_slack: Any, times: int = 100_000) -> None:
    fake_slack.fail_next("chat.postMessage", status=503, times=times)


def test_a_reminder_slack_refuses_is_emailed_to_the_holder_once(
        client, worker, rt, clock, fake_slack, smtp_sink) -> None:
    # Waiting SLACK_EMAIL_AFTER would use up the SLA period before the lead is reassigned.
    assert SLA_EMAIL_AFTER < SLACK_EMAIL_AFTER <= timedelta(minutes=_sla_minutes(rt))
    card = pending_card(client, worker)  # Slack up: the card is in Slack
    assert fake_slack.card(card["approval_id"]) is not None
    owner = rt.roster.find(card["assignee"])
    assert owner is not None and owner.slack_id  # Slack reaches this rep, when it is up
    _slack_down(fake_slack)

    run_for(clock, worker, _sla_minutes(rt) + 1)  # the breach: the reminder is refused
    assert _emails(smtp_sink, REMINDER) == []  # not at the first refusal

    # Told at the retries a minute or more apart (service/jobs.py RETELL_FROM_DELAY): the
    # first of them past SLA_EMAIL_AFTER queues the email.
    run_for(clock, worker, int(SLA_EMAIL_AFTER.total_seconds() // 60) + 6)
    [mail] = _emails(smtp_sink, REMINDER)
    assert mail.rcpt_tos == [owner.email]
    assert f"Hi {owner.name}," in mail.body
    assert "passed its SLA" in mail.body
    assert "Slack has not accepted this reminder since" in mail.body
    assert 'Lead:    "Ada Park"' in mail.body and 'Company: "Acme"' in mail.body
    assert f"/v1/approvals/{card['approval_id']}" in mail.body
    assert f"hitl approvals decide {card['approval_id']} --action approve" in mail.body
    assert "because Slack has not been taking the reminder" in mail.body

    run_for(clock, worker, 5)  # still refused, retried, its watcher told again
    assert len(_emails(smtp_sink, REMINDER)) == 1
    with rt.db.read() as session:
        [sent] = [a for a in session.scalars(select(AuditEntry).where(
            AuditEntry.action == "sla_notice_emailed")) if a.detail["step"] == "reminder"]
    assert sent.detail["recipient"] == owner.key


def test_the_escalation_slack_refuses_is_emailed_to_the_manager(
        client, worker, rt, clock, fake_slack, smtp_sink) -> None:
    """Slack down from the first breach on: the holder's reminder and the manager's escalation
    each go by email, once, to their own person (the new holder's card has its own notice)."""
    card = pending_card(client, worker)
    first_owner = rt.roster.find(card["assignee"])
    _slack_down(fake_slack)
    run_for(clock, worker, 2 * _sla_minutes(rt) + int(SLA_EMAIL_AFTER.total_seconds() // 60)
             + 6)

    [reminder] = _emails(smtp_sink, REMINDER)
    assert reminder.rcpt_tos == [first_owner.email]
    [escalation] = _emails(smtp_sink, ESCALATION)
    manager = rt.roster.managers_on_duty()[0]
    assert manager.slack_id and escalation.rcpt_tos == [manager.email]
    [reassigned] = client.get("/v1/approvals", params={"status": "pending"}).json()
    new_owner = rt.roster.find(reassigned["assignee"])
    assert new_owner.key != first_owner.key
    assert f"from {first_owner.name} to {new_owner.name}" in escalation.body
    assert "Slack has not accepted this escalation since" in escalation.body
    assert "because Slack has not been taking the escalation" in escalation.body


def test_a_card_decided_before_the_email_gets_no_reminder(
        client, worker, rt, clock, fake_slack, smtp_sink) -> None:
    card = pending_card(client, worker)
    _slack_down(fake_slack)
    run_for(clock, worker, _sla_minutes(rt) + 1)  # the reminder refused once
    owner = rt.roster.find(card["assignee"])
    assert decide(client, card["approval_id"], action="reject", actor=owner.slack_id,
                  reason_code="not_icp").status_code == 200
    run_for(clock, worker, 10)
    assert _emails(smtp_sink, REMINDER) == []


def test_a_reminder_slack_takes_on_a_retry_is_not_emailed(
        client, worker, rt, clock, fake_slack, smtp_sink) -> None:
    """A blip: Slack refuses the reminder once, then takes it; nobody is emailed, and the
    reminder is in the card's thread."""
    card = pending_card(client, worker)
    _slack_down(fake_slack, times=1)
    run_for(clock, worker, _sla_minutes(rt) + 10)
    assert _emails(smtp_sink, REMINDER) == []
    posted = fake_slack.card(card["approval_id"])
    assert posted is not None
    nudges = [m for m in fake_slack.thread(posted["channel"], posted["ts"])
              if "passed its SLA" in str(m.get("text"))]
    assert len(nudges) == 1  # taken on a retry, once


def test_a_reminder_email_waiting_on_mail_is_dropped_once_slack_takes_the_reminder(
        client, worker, rt, clock, fake_slack, smtp_sink) -> None:
    """Queued while Slack refused the reminder, its own delivery held up (451s): once Slack has
    taken the reminder, the email has nothing left to say and is not sent."""
    pending_card(client, worker)
    _slack_down(fake_slack)
    smtp_sink.refuse_next(*["451 4.3.0 try again later"] * 50)
    run_for(clock, worker, _sla_minutes(rt) + int(SLA_EMAIL_AFTER.total_seconds() // 60) + 6)
    with rt.db.read() as session:
        queued = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "notice_queued")).all()
    assert [q.detail["step"] for q in queued] == ["reminder"]  # the email is on its way
    fake_slack.recover()
    [reminder_job] = client.get("/v1/jobs", params={"kind": "slack_sla_reminder"}).json()
    assert client.post(f"/v1/jobs/{reminder_job['job_id']}/retry").status_code == 200
    run_for(clock, worker, 1)  # Slack takes the reminder: it is in the card's thread
    assert client.get("/v1/jobs", params={"kind": "slack_sla_reminder"}).json() == []
    assert any(c.params.get("thread_ts") for c in fake_slack.calls("chat.postMessage"))
    smtp_sink.recover()
    run_for(clock, worker, 4)  # the notice's next tries, the card still pending
    assert client.get("/v1/jobs", params={"kind": "deliver_email_notice"}).json() == []
    assert _emails(smtp_sink, REMINDER) == []
