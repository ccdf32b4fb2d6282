"""A card Slack will not take is emailed to its assignee (service/job_watch.py
`card_post_failing`, service/notices.py `queue_card_notice`): after SLACK_EMAIL_AFTER of failed
posts, once per approval, never once the approval is decided or its card is in Slack. The real
worker, the Slack fake answering 503, a real SMTP server on loopback, an injected clock."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from config.settings import Settings
from service.job_watch import SLACK_EMAIL_AFTER
from store.tables import Approval, AuditEntry
from tests.flow import decide, pending_card, run_for

CARD_SUBJECT = "A lead is waiting for your decision: Slack has not taken its card"


@pytest.fixture
def settings(slack_settings: Settings) -> Settings:
    return slack_settings



def _card_notices(rt: Any) -> list[AuditEntry]:
    with rt.db.read() as session:
        return [a for a in session.scalars(select(AuditEntry).where(
            AuditEntry.action == "sla_notice_emailed")) if a.detail["step"] == "card_unposted"]


def test_a_card_slack_will_not_take_is_emailed_to_its_assignee_once(
        client, worker, rt, clock, fake_slack, smtp_sink) -> None:
    fake_slack.fail_next("chat.postMessage", status=503, times=100_000)  # Slack is down
    first_refused = clock.now()
    card = pending_card(client, worker)
    owner = rt.roster.find(card["assignee"])
    assert owner is not None and owner.slack_id  # Slack reaches this rep, when it is up
    assert fake_slack.card(card["approval_id"]) is None

    run_for(clock, worker, int(SLACK_EMAIL_AFTER.total_seconds() // 60) - 1)
    assert [m for m in smtp_sink.messages if m.subject == CARD_SUBJECT] == []  # not yet

    run_for(clock, worker, 20)  # the first retry past SLACK_EMAIL_AFTER tells the rep
    [mail] = [m for m in smtp_sink.messages if m.subject == CARD_SUBJECT]
    assert mail.rcpt_tos == [owner.email]
    assert f"Hi {owner.name}," in mail.body
    assert "Slack has not accepted its approval card since" in mail.body
    assert f"{first_refused:%Y-%m-%d %H:%M} UTC" in mail.body
    assert 'Lead:    "Ada Park"' in mail.body and 'Company: "Acme"' in mail.body
    assert f"/v1/approvals/{card['approval_id']}" in mail.body
    assert f"hitl approvals decide {card['approval_id']} --action approve" in mail.body
    assert "because Slack has not been taking the card" in mail.body

    # Still failing for 90 minutes, retried and its watcher told again: still one email for
    # this approval. (Meanwhile the SLA reassigns the lead: the new version's card, failing
    # too, is emailed to its own assignee, once.)
    run_for(clock, worker, 90)
    by_approval = Counter(a.detail["approval_id"] for a in _card_notices(rt))
    assert by_approval[card["approval_id"]] == 1 and set(by_approval.values()) == {1}
    assert len([m for m in smtp_sink.messages if m.subject == CARD_SUBJECT]) == len(by_approval)

    fake_slack.recover()
    run_for(clock, worker, 16)  # the next retries post the cards; nobody is emailed again
    pending = client.get("/v1/approvals", params={"status": "pending"}).json()
    assert pending and all(fake_slack.card(a["approval_id"]) is not None for a in pending)
    assert len([m for m in smtp_sink.messages if m.subject == CARD_SUBJECT]) == len(by_approval)


def test_a_card_decided_meanwhile_is_not_emailed(client, worker, rt, clock, fake_slack,
                                                 smtp_sink) -> None:
    fake_slack.fail_next("chat.postMessage", status=503, times=100_000)
    card = pending_card(client, worker)
    run_for(clock, worker, 5)
    owner = rt.roster.find(card["assignee"])
    assert decide(client, card["approval_id"], action="reject", actor=owner.slack_id,
                  reason_code="not_icp").status_code == 200
    run_for(clock, worker, 40)
    assert [m for m in smtp_sink.messages if m.subject == CARD_SUBJECT] == []
    assert _card_notices(rt) == []


def test_a_notice_whose_card_reached_slack_is_not_sent(client, worker, rt, clock, fake_slack,
                                                       smtp_sink) -> None:
    """Queued while Slack failed, run after it took the card: nothing to tell."""
    from service import notices

    card = pending_card(client, worker)  # Slack up: the card is posted
    assert fake_slack.card(card["approval_id"]) is not None
    with rt.db.session() as session:
        approval = session.get(Approval, card["approval_id"])
        assert notices.queue_card_notice(rt, session, approval=approval,
                                         recipient=rt.roster.find(card["assignee"]),
                                         failing_since=clock.now() - timedelta(minutes=20))
    worker.run_until_idle()
    assert [m for m in smtp_sink.messages if m.subject == CARD_SUBJECT] == []


def test_a_card_job_failing_for_our_own_reasons_is_not_blamed_on_slack(
        client, worker, rt, clock, fake_slack, smtp_sink, monkeypatch) -> None:
    """A bug in the card job (not Slack refusing it) is listed as failing work; the rep is not
    told that Slack is down."""
    from slack_app import jobs as slack_jobs

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("card renderer bug")

    monkeypatch.setattr(slack_jobs, "render", broken)
    pending_card(client, worker)
    run_for(clock, worker, 40)
    assert [m for m in smtp_sink.messages if m.subject == CARD_SUBJECT] == []
    failing = client.get("/v1/jobs", params={"status": "retrying",
                                             "kind": "slack_post_approval"}).json()
    assert failing and all("renderer bug" in job["last_error"] for job in failing)


def test_one_notice_however_often_the_failing_card_retries_while_mail_is_slow(
        client, worker, rt, clock, fake_slack, smtp_sink) -> None:
    """The notice's own delivery retries (a 451) while the card's post keeps failing and its
    watcher is told again: the notice is queued once, and sent once."""
    fake_slack.fail_next("chat.postMessage", status=503, times=100_000)
    pending_card(client, worker)
    smtp_sink.refuse_next(*["451 4.3.0 try again later"] * 3)
    run_for(clock, worker, 120)  # (the SLA reassigns the lead meanwhile: a card each)
    with rt.db.read() as session:
        queued = [q for q in session.scalars(select(AuditEntry).where(
            AuditEntry.action == "notice_queued")) if q.detail["step"] == "card_unposted"]
    assert queued and len({q.subject_id for q in queued}) == len(queued)  # each once
    emails = [m for m in smtp_sink.messages if m.subject == CARD_SUBJECT]
    assert len(emails) == len(queued) == len(_card_notices(rt))  # and sent once each


def test_a_refused_notice_is_not_tried_again_at_each_retry_of_the_card(
        client, worker, rt, clock, fake_slack, smtp_sink) -> None:
    """The mail server refuses the notice for good (550): recorded once, not queued and tried
    again every time the failing card's watcher is told."""
    fake_slack.fail_next("chat.postMessage", status=503, times=100_000)
    pending_card(client, worker)
    smtp_sink.refuse_next(*["550 5.1.1 mailbox unavailable"] * 20)
    run_for(clock, worker, 120)
    with rt.db.read() as session:
        refused = [a.subject_id for a in session.scalars(select(AuditEntry).where(
            AuditEntry.action == "sla_notice_failed")) if a.detail["step"] == "card_unposted"]
    assert refused and len(set(refused)) == len(refused)  # once per notice
