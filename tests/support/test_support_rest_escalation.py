"""A support lead who is not on Slack: an unclaimed warm transfer reaches them by email, once
(service/notices.py), and they take it over REST with their personal token. Real SMTP on
loopback, the fake Slack Web API, an injected clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from config.settings import DEFAULTS_DIR, Settings
from service import conversations as service
from service.jobs import enqueue
from service.notice_email import NOTICE_JOB
from service.support import support
from store.tables import SupportTransfer
from tests.conftest import SUPPORT_CHANNEL, make_settings
from tests.fake_slack import FakeSlack, all_text
from tests.support.chat import conversation, say

PUBLIC_URL = "https://hitl.example.test"
SASHA = "sasha@example.com"


@pytest.fixture
def settings(tmp_path: Path, smtp_sink: Any, database_url: str,
             fake_slack: FakeSlack) -> Settings:
    """Slack on for everyone else; Sasha, the support lead, has no Slack id."""
    team = tmp_path / "team.toml"
    team.write_text((DEFAULTS_DIR / "team.toml").read_text().replace(
        'slack_id = "U0SUP0001"\n', ""))
    return make_settings(tmp_path, smtp_url=smtp_sink.url, database_url=database_url,
                         slack_bot_token="xoxb-test", slack_signing_secret="secret",
                         slack_api_url=fake_slack.url + "/",
                         slack_support_channel=SUPPORT_CHANNEL, team_file=team,
                         public_url=PUBLIC_URL)


def test_an_unclaimed_transfer_emails_the_support_lead_once_who_claims_over_rest(
        support_client: Any, worker: Any, support_rt: Any, fake_slack: FakeSlack,
        clock: Any, smtp_sink: Any) -> None:
    from service import personal_tokens

    # (A name with a line break, U+2028 included, is refused at the door since cf876a0.)
    say(support_client, "How do I export my data to CSV?", email="ada@acme.io",
        name="Ada Park  Bcc: victim@evil.test")
    handoff_id = say(support_client, "I want to talk to a human")["handoff_id"]
    worker.run_until_idle()
    timeout = support(support_rt).policy.claim_timeout_minutes
    clock.advance(minutes=timeout - 0.5)
    worker.run_until_idle()
    assert smtp_sink.messages == []  # not before the claim timeout

    clock.advance(minutes=1)
    worker.run_until_idle()
    [mail] = smtp_sink.messages
    assert mail.rcpt_tos == [SASHA] and mail.message["Bcc"] is None
    assert mail.subject == "Support: a customer is waiting and nobody has claimed it"
    assert "Hi Sasha Support," in mail.body
    [customer] = [line for line in mail.body.splitlines() if line.startswith("Customer:")]
    assert customer == 'Customer: "Ada Park Bcc: victim@evil.test"'  # one quoted line
    assert f"{PUBLIC_URL}/v1/handoffs/{handoff_id}/claim" in mail.body
    assert f"hitl handoffs claim {handoff_id}" in mail.body
    # The handoff opens read-only from the email's signed link, without a bearer header.
    [link] = [w for w in mail.body.split()
              if w.startswith(f"{PUBLIC_URL}/v1/handoffs/{handoff_id}?sig=")]
    bearer = support_client.headers.pop("Authorization")
    try:
        page = support_client.get(link.removeprefix(PUBLIC_URL))
        assert page.status_code == 200 and page.json()["status"] == "waiting"
        assert support_client.get(f"/v1/handoffs/{handoff_id}").status_code == 401
    finally:
        support_client.headers["Authorization"] = bearer
    assert conversation(support_client)["messages"][-1]["role"] == "bot"  # customer told

    # The timer and the notice replayed (a retry after a crash): still one email.
    assert service.escalate_unclaimed(support_rt, handoff_id) is False
    with support_rt.db.session() as session:
        enqueue(session, NOTICE_JOB, {
            "notice_id": mail.message["Message-ID"].strip("<>").split("@")[0],
            "step": "support_escalation", "handoff_id": handoff_id, "approval_id": None,
            "lead_id": None, "to": SASHA, "waited_minutes": timeout}, now=clock.now())
    worker.run_until_idle()
    assert len(smtp_sink.messages) == 1

    # Sasha takes it from the email, over REST; the card in Slack follows.
    token = personal_tokens.create(support_rt, SASHA)[1]
    claimed = support_client.post(f"/v1/handoffs/{handoff_id}/claim",
                                  headers={"Authorization": f"Bearer {token}"})
    assert claimed.status_code == 200 and claimed.json()["owner"] == SASHA
    worker.run_until_idle()
    with support_rt.db.read() as session:
        transfer = session.get(SupportTransfer, handoff_id)
        assert transfer is not None and transfer.slack_ts
        card = fake_slack.message(transfer.slack_channel, transfer.slack_ts)
    assert f"*Claimed* by {SASHA}" in all_text(card["blocks"])


def test_no_email_when_the_transfer_was_claimed_before_the_notice_went_out(
        support_client: Any, worker: Any, support_rt: Any, clock: Any,
        smtp_sink: Any) -> None:
    handoff_id = say(support_client, "human please", email="bo@example.org")["handoff_id"]
    assert handoff_id
    worker.run_until_idle()
    clock.advance(minutes=support(support_rt).policy.claim_timeout_minutes + 1)
    assert service.escalate_unclaimed(support_rt, handoff_id) is True  # the notice is queued
    service.claim(support_rt, handoff_id, "U0MGR0001")  # and someone claims it first
    worker.run_until_idle()
    assert smtp_sink.messages == []
