"""A warm transfer while Slack is down: the support lead's alert for the unclaimed transfer goes
by email once Slack has refused it for SLACK_EMAIL_AFTER (service/job_watch.py
`support_alert_failing`), once per transfer; nothing once someone claimed it. A customer's new
message Slack will not show in a claimed conversation's thread goes to its owner the same way
(`customer_relay_failing`). The Slack fake answering 503, a real SMTP server on loopback, the
real worker, an injected clock."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from service.job_watch import SLACK_EMAIL_AFTER
from service.support import support
from store.tables import Job
from tests.fake_slack import FakeSlack
from tests.flow import run_for
from tests.support.chat import handoff, say, transfer_to_a_person

ALERT_SUBJECT = "Support: a customer is waiting and nobody has claimed it"
RELAY_SUBJECT = "Support: a customer wrote again and Slack has not shown it"
OWNER = "U0MGR0001"  # claims the conversation (Morgan, on the roster with an email)
SLACK_METHODS = ("chat.postMessage", "conversations.open", "chat.update")


@pytest.fixture
def settings(slack_settings: Any) -> Any:
    return slack_settings


def _slack_down(fake: FakeSlack) -> None:
    for method in SLACK_METHODS:
        fake.fail_next(method, status=503, times=100_000)


def _alerts(smtp_sink: Any, subject: str = ALERT_SUBJECT) -> list[Any]:
    return [m for m in smtp_sink.messages if m.subject == subject]


def _claimed_before_the_outage(client: Any, worker: Any, rt: Any, fake: FakeSlack) -> str:
    """A transfer whose card and transcript Slack took, claimed by OWNER; then Slack goes down."""
    from service import conversations

    handoff_id = transfer_to_a_person(client, worker)
    conversations.claim(rt, handoff_id, OWNER)
    worker.run_until_idle()
    _slack_down(fake)
    return handoff_id


EMAIL_AFTER_MINUTES = int(SLACK_EMAIL_AFTER.total_seconds() // 60)


def test_the_support_leads_alert_goes_by_email_while_slack_refuses_it(
        support_client: Any, worker: Any, support_rt: Any, fake_slack: FakeSlack, clock: Any,
        smtp_sink: Any) -> None:
    _slack_down(fake_slack)
    handoff_id = transfer_to_a_person(support_client, worker)
    timeout = support(support_rt).policy.claim_timeout_minutes
    run_for(clock, worker, int(timeout) + 1)
    assert handoff(support_client, handoff_id)["escalated_to"] == "U0SUP0001"
    lead = support_rt.roster.find("U0SUP0001")
    assert lead is not None and lead.slack_id  # Slack reaches the lead, when it is up
    assert _alerts(smtp_sink) == []  # Slack has refused it for less than SLACK_EMAIL_AFTER

    run_for(clock, worker, int(SLACK_EMAIL_AFTER.total_seconds() // 60) + 20)
    [mail] = _alerts(smtp_sink)
    assert mail.rcpt_tos == [lead.email]
    assert f"/v1/handoffs/{handoff_id}" in mail.body
    assert f"hitl handoffs claim {handoff_id}" in mail.body
    assert "because Slack has not been taking the alert" in mail.body

    run_for(clock, worker, 60)  # still refused, retried: still one email
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
    run_for(clock, worker, int(support(support_rt).policy.claim_timeout_minutes) + 1)
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
    run_for(clock, worker, 20)
    assert _alerts(smtp_sink) == []


def test_a_customers_new_message_goes_by_email_to_the_owner_while_slack_refuses_it(
        support_client: Any, worker: Any, support_rt: Any, fake_slack: FakeSlack, clock: Any,
        smtp_sink: Any) -> None:
    handoff_id = _claimed_before_the_outage(support_client, worker, support_rt, fake_slack)
    assert say(support_client, "Hello? My export is still stuck.")["status"] == "human"
    run_for(clock, worker, EMAIL_AFTER_MINUTES - 2)
    assert _alerts(smtp_sink, RELAY_SUBJECT) == []  # refused for less than SLACK_EMAIL_AFTER

    run_for(clock, worker, 25)
    [mail] = _alerts(smtp_sink, RELAY_SUBJECT)
    owner = support_rt.roster.find(OWNER)
    assert mail.rcpt_tos == [owner.email]
    assert f"/v1/handoffs/{handoff_id}" in mail.body
    assert f"hitl handoffs reply {handoff_id}" in mail.body
    assert "because Slack has not been taking the customer's messages" in mail.body
    assert "export is still stuck" not in mail.body  # the customer's words stay behind the link

    say(support_client, "Anyone?")  # more messages, more refused relays: still one email
    run_for(clock, worker, 60)
    assert len(_alerts(smtp_sink, RELAY_SUBJECT)) == 1


def test_no_email_once_slack_shows_the_message(
        support_client: Any, worker: Any, support_rt: Any, fake_slack: FakeSlack, clock: Any,
        smtp_sink: Any) -> None:
    _claimed_before_the_outage(support_client, worker, support_rt, fake_slack)
    say(support_client, "Hello? My export is still stuck.")
    run_for(clock, worker, 5)
    fake_slack.recover()
    run_for(clock, worker, EMAIL_AFTER_MINUTES + 30)
    assert any("export is still stuck" in str(c.params.get("text") or "")
               for c in fake_slack.calls("chat.postMessage"))
    assert _alerts(smtp_sink, RELAY_SUBJECT) == []


def test_the_agents_own_reply_is_not_emailed(
        support_client: Any, worker: Any, support_rt: Any, fake_slack: FakeSlack, clock: Any,
        smtp_sink: Any) -> None:
    """The agent's reply written through the API is relayed too, and refused: its owner wrote
    it, nobody to tell. Nor does it use up the transfer's one email: the customer's next
    message, refused as long, is emailed."""
    from service import conversations

    _claimed_before_the_outage(support_client, worker, support_rt, fake_slack)
    conversations.agent_reply(support_rt, _only_transfer(support_rt), OWNER, "Looking into it.")
    run_for(clock, worker, EMAIL_AFTER_MINUTES + 30)
    assert _alerts(smtp_sink, RELAY_SUBJECT) == []

    say(support_client, "Thanks, still waiting.")
    run_for(clock, worker, EMAIL_AFTER_MINUTES + 30)
    assert len(_alerts(smtp_sink, RELAY_SUBJECT)) == 1


def test_no_email_for_a_conversation_resolved_meanwhile(
        support_client: Any, worker: Any, support_rt: Any, fake_slack: FakeSlack, clock: Any,
        smtp_sink: Any) -> None:
    from service import conversations

    handoff_id = _claimed_before_the_outage(support_client, worker, support_rt, fake_slack)
    say(support_client, "Thanks, waiting.")
    conversations.resolve(support_rt, handoff_id, OWNER)  # nobody owns it now
    run_for(clock, worker, EMAIL_AFTER_MINUTES + 30)
    assert _alerts(smtp_sink, RELAY_SUBJECT) == []
    with support_rt.db.read() as session:  # still retried and listed; only nobody is emailed
        assert session.scalars(select(Job).where(Job.kind == "support_relay")).all()


def _only_transfer(rt: Any) -> str:
    from store.tables import SupportTransfer

    with rt.db.read() as session:
        [transfer_id] = session.scalars(select(SupportTransfer.id))
    return str(transfer_id)
