"""A warm transfer while Slack is down: the support lead's alert for the unclaimed transfer goes
by email once Slack has refused it for SLACK_EMAIL_AFTER (service/job_watch.py
`support_alert_failing`), once per transfer; nothing once someone claimed it. The Slack fake
answering 503, a real SMTP server on loopback, the real worker, an injected clock."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from service.job_watch import SLACK_EMAIL_AFTER
from service.support import support
from store.tables import Job
from tests.fake_slack import FakeSlack
from tests.support.chat import handoff, transfer_to_a_person

ALERT_SUBJECT = "Support: a customer is waiting and nobody has claimed it"
SLACK_METHODS = ("chat.postMessage", "conversations.open", "chat.update")


@pytest.fixture
def settings(slack_settings: Any) -> Any:
    return slack_settings


def _slack_down(fake: FakeSlack) -> None:
    for method in SLACK_METHODS:
        fake.fail_next(method, status=503, times=100_000)


def _run_for(clock: Any, worker: Any, minutes: int) -> None:
    for _ in range(minutes):
        clock.advance(minutes=1)
        worker.run_until_idle()


def _alerts(smtp_sink: Any) -> list[Any]:
    return [m for m in smtp_sink.messages if m.subject == ALERT_SUBJECT]


def test_the_support_leads_alert_goes_by_email_while_slack_refuses_it(
        support_client: Any, worker: Any, support_rt: Any, fake_slack: FakeSlack, clock: Any,
        smtp_sink: Any) -> None:
    _slack_down(fake_slack)
    handoff_id = transfer_to_a_person(support_client, worker)
    timeout = support(support_rt).policy.claim_timeout_minutes
    _run_for(clock, worker, int(timeout) + 1)
    assert handoff(support_client, handoff_id)["escalated_to"] == "U0SUP0001"
    lead = support_rt.roster.find("U0SUP0001")
    assert lead is not None and lead.slack_id  # Slack reaches the lead, when it is up
    assert _alerts(smtp_sink) == []  # Slack has refused it for less than SLACK_EMAIL_AFTER

    _run_for(clock, worker, int(SLACK_EMAIL_AFTER.total_seconds() // 60) + 20)
    [mail] = _alerts(smtp_sink)
    assert mail.rcpt_tos == [lead.email]
    assert f"/v1/handoffs/{handoff_id}" in mail.body
    assert f"hitl handoffs claim {handoff_id}" in mail.body
    assert "because Slack has not been taking the alert" in mail.body

    _run_for(clock, worker, 60)  # still refused, retried: still one email
    assert len(_alerts(smtp_sink)) == 1


def test_a_transfer_claimed_meanwhile_is_not_emailed(
        support_client: Any, worker: Any, support_rt: Any, fake_slack: FakeSlack, clock: Any,
        smtp_sink: Any) -> None:
    """Claimed while Slack refused its alert: the watcher, told of the alert's failure after
    SLACK_EMAIL_AFTER (even parked), queues nothing."""
    from service import conversations, job_watch
    from service.jobs import RetryLater

    _slack_down(fake_slack)
    handoff_id = transfer_to_a_person(support_client, worker)
    _run_for(clock, worker, int(support(support_rt).policy.claim_timeout_minutes) + 1)
    conversations.claim(support_rt, handoff_id, "U0MGR0001")  # someone took it, Slack or not
    slack_down = RetryLater("Slack conversations.open: internal_error (HTTP 503)")
    slack_down.slack_failure = True  # type: ignore[attr-defined]  (as slack_app.web marks it)
    clock.advance(minutes=30)
    with support_rt.db.session() as session:
        [alert] = session.scalars(select(Job).where(Job.kind == job_watch.ESCALATION_JOB))
        assert alert.failing_since is not None
        job_watch.support_alert_failing(support_rt, session, alert.id, alert.payload,
                                        True, slack_down)
        assert session.scalars(select(Job).where(Job.kind == "deliver_email_notice")).all() == []
    _run_for(clock, worker, 20)
    assert _alerts(smtp_sink) == []
