"""An approved email that failed for good is told to people even without Slack (service/notices.py
`tell_send_failed`): the card's holder and a manager get an email saying why and how to retry
it, once; a send retried and delivered meanwhile tells nobody. Real SMTP on loopback."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from service.notices import queue_send_failed_notice
from store.tables import OutboxMessage
from tests.flow import decide, pending_card


def _refused_for_good(client: Any, worker: Any, smtp_sink: Any) -> dict[str, Any]:
    card = pending_card(client, worker)
    smtp_sink.refuse_recipients_next("550 5.1.1 <{address}>: no such user")
    assert decide(client, card["approval_id"], action="approve",
                  actor=card["assignee"]).status_code == 200
    worker.run_until_idle()
    return card


def test_with_slack_off_a_send_that_failed_for_good_is_told_by_email(
        client: Any, worker: Any, rt: Any, clock: Any, smtp_sink: Any) -> None:
    assert not rt.settings.slack_enabled
    card = _refused_for_good(client, worker, smtp_sink)
    with rt.db.read() as session:
        outbox_id = session.scalar(select(OutboxMessage.id))
    holder = rt.roster.find(card["assignee"])
    manager = rt.roster.managers_on_duty()[0]

    notices = smtp_sink.messages
    assert sorted(m.rcpt_tos[0] for m in notices) == sorted([holder.email, manager.email])
    for mail in notices:
        assert mail.subject == "An approved email was not sent"
        assert "550 5.1.1" in mail.body and f"hitl outbox retry {outbox_id}" in mail.body
        assert card["draft"]["to"] not in mail.rcpt_tos  # to colleagues, never the lead
    clock.advance(hours=2)
    worker.run_until_idle()
    assert len(smtp_sink.messages) == 2  # once


def test_a_notice_for_a_send_retried_and_sent_meanwhile_is_not_sent(
        client: Any, worker: Any, rt: Any, smtp_sink: Any) -> None:
    card = _refused_for_good(client, worker, smtp_sink)
    assert len(smtp_sink.messages) == 2
    with rt.db.read() as session:
        outbox_id = session.scalar(select(OutboxMessage.id))
    assert client.post(f"/v1/outbox/{outbox_id}/retry").status_code == 200
    worker.run_until_idle()
    assert [m.rcpt_tos for m in smtp_sink.messages[2:]] == [[card["draft"]["to"]]]
    with rt.db.session() as session:  # a late notice of the earlier failure (another cause)
        assert queue_send_failed_notice(rt, session, approval_id=card["approval_id"],
                                        cause="late", outbox_id=outbox_id) == 2
    worker.run_until_idle()
    assert len(smtp_sink.messages) == 3  # the lead's email, and no notice: it was sent
