"""SLA reminders and escalations by email for people Slack cannot reach (no Slack id, or Slack
off: service/notices.py): the real worker, a real SMTP server on loopback, an injected clock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from config.settings import DEFAULTS_DIR, Settings
from service.jobs import enqueue
from service.notice_email import NOTICE_JOB
from service.notices import notice_id
from store.tables import AuditEntry, Handoff
from tests.conftest import LEAD_ADA, hand_raise, make_settings
from tests.flow import decide, pending_card

PUBLIC_URL = "https://hitl.example.test"
APPROVALS = "C0APPROVALS"


def _roster(tmp_path: Path, *without_slack: str) -> Path:
    """The shipped roster with the Slack ids in `without_slack` removed."""
    text = (DEFAULTS_DIR / "team.toml").read_text()
    for slack_id in without_slack:
        assert f'slack_id = "{slack_id}"\n' in text
        text = text.replace(f'slack_id = "{slack_id}"\n', "")
    path = tmp_path / "team.toml"
    path.write_text(text)
    return path


@pytest.fixture
def without_slack() -> tuple[str, ...]:
    return ("U0REP0001", "U0REP0004")  # the US mid-market reps: one of them gets Ada's card


@pytest.fixture
def slack_on() -> bool:
    return False


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path, smtp_sink: Any,
             database_url: str, without_slack: tuple[str, ...], slack_on: bool) -> Settings:
    slack: dict[str, Any] = {}
    if slack_on:  # the Slack surface on, against the fake Web API; cards to a shared channel
        fake = request.getfixturevalue("fake_slack")
        slack = dict(slack_bot_token="xoxb-test", slack_signing_secret="secret",
                     slack_api_url=fake.url + "/", slack_approvals_channel=APPROVALS)
    return make_settings(tmp_path, smtp_url=smtp_sink.url, database_url=database_url,
                         team_file=_roster(tmp_path, *without_slack), public_url=PUBLIC_URL,
                         **slack)


def _due(rt: Any, handoff_id: str) -> str:
    with rt.db.session() as session:
        handoff = session.get(Handoff, handoff_id)
        assert handoff is not None and handoff.sla_due_at is not None
        return handoff.sla_due_at.isoformat()


def _handoff_id(client: Any, lead_id: str) -> str:
    return str(client.get(f"/v1/leads/{lead_id}").json()["handoff"]["handoff_id"])


def _replay(rt: Any, worker: Any, kind: str, payload: dict[str, Any]) -> None:
    """Queue a job again as a crash-and-retry (or a duplicate delivery) would, and run it."""
    with rt.db.session() as session:
        enqueue(session, kind, payload, now=rt.clock.now())
    worker.run_until_idle()


def _notices(rt: Any, action: str = "sla_notice_emailed") -> list[AuditEntry]:
    with rt.db.session() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_owner_without_slack_gets_one_reminder_email_at_the_breach(
        client: Any, worker: Any, rt: Any, clock: Any, smtp_sink: Any) -> None:
    card = pending_card(client, worker)
    owner = rt.roster.find(card["assignee"])
    assert card["assignee"] == owner.email and owner.slack_id is None  # no Slack id
    handoff_id = _handoff_id(client, card["lead_id"])
    due = _due(rt, handoff_id)
    sla = rt.policy.sla["hand_raise"].minutes

    clock.advance(minutes=sla - 1)
    worker.run_until_idle()
    assert smtp_sink.messages == []  # not before the breach

    clock.advance(minutes=2)
    worker.run_until_idle()
    [mail] = smtp_sink.messages
    assert mail.rcpt_tos == [owner.email]
    assert mail.message["To"] == owner.email
    assert mail.subject == "SLA reminder: a lead is waiting for your decision"
    assert mail.message["List-Unsubscribe"] is None  # a colleague, not a mailing list
    assert mail.message.get_content_type() == "text/plain"
    assert mail.message["Message-ID"] == f"<{notice_id(handoff_id, due, 1)}@localhost>"
    assert f"Hi {owner.name}," in mail.body
    assert f"passed its SLA ({clock.now() - timedelta(minutes=1):%Y-%m-%d %H:%M} UTC)" in \
        mail.body
    assert 'Lead:    "Ada Park"' in mail.body and 'Company: "Acme"' in mail.body
    assert f"{PUBLIC_URL}/v1/approvals/{card['approval_id']}?sig=" in mail.body
    assert f"hitl approvals decide {card['approval_id']} --action approve" in mail.body
    [sent] = _notices(rt)
    assert sent.detail["recipient"] == owner.email and sent.detail["step"] == "reminder"

    # The SLA check replayed (a retried job): the breach is already recorded, nothing new.
    _replay(rt, worker, "sla_check", {"handoff_id": handoff_id, "breach": 1, "due": due})
    # The notice job itself replayed (a crash after the send, a duplicate): still one email.
    _replay(rt, worker, NOTICE_JOB, {
        "notice_id": notice_id(handoff_id, due, 1), "step": "reminder",
        "handoff_id": handoff_id, "approval_id": card["approval_id"],
        "lead_id": card["lead_id"], "to": owner.email, "due": due})
    assert len(smtp_sink.messages) == 1
    assert len(_notices(rt)) == 1


@pytest.mark.parametrize(("without_slack", "slack_on"), [(("U0MGR0001",), True)])
def test_manager_without_slack_gets_the_escalation_and_the_owner_with_slack_no_email(
        client: Any, worker: Any, rt: Any, clock: Any, smtp_sink: Any) -> None:
    # Slack on: the owner, who has a Slack id, is reminded there. (This test ran with Slack
    # off before, which made "no email for an owner with a Slack id" the rule even when Slack
    # reached nobody; that case is test_with_slack_off_everyone_is_reached_by_email_once.)
    assert rt.settings.slack_enabled
    card = pending_card(client, worker)
    owner = rt.roster.find(card["assignee"])
    assert card["assignee"] == owner.slack_id  # the owner has Slack: the reminder goes there
    sla = rt.policy.sla["hand_raise"].minutes
    clock.advance(minutes=sla + 1)
    worker.run_until_idle()
    assert smtp_sink.messages == []

    clock.advance(minutes=sla + 1)  # untouched again: reassigned, the manager is told
    worker.run_until_idle()
    [mail] = smtp_sink.messages
    assert mail.rcpt_tos == ["morgan@example.com"]
    assert mail.subject == "SLA escalation: a lead was reassigned"
    [escalation] = [a for a in _notices(rt)]
    assert escalation.detail["step"] == "escalation"
    new_owner = rt.roster.find(client.get(f"/v1/leads/{card['lead_id']}").json()["owner"])
    assert f"from {owner.name} to {new_owner.name} with a refreshed package" in " ".join(
        mail.body.split())
    assert f"{PUBLIC_URL}/v1/approvals/{card['approval_id']}?sig=" in mail.body
    assert "the team roster has no Slack id for you" in mail.body

    worker.run_until_idle()
    assert len(smtp_sink.messages) == 1  # nothing is sent to the lead by the rescue either


@pytest.mark.parametrize("without_slack", [()])
def test_with_slack_off_everyone_is_reached_by_email_once(
        client: Any, worker: Any, rt: Any, clock: Any, smtp_sink: Any) -> None:
    assert not rt.settings.slack_enabled  # no Slack token: Slack reaches nobody
    card = pending_card(client, worker)
    owner = rt.roster.find(card["assignee"])
    assert owner.slack_id and card["assignee"] == owner.slack_id  # a Slack id, useless here
    handoff_id = _handoff_id(client, card["lead_id"])
    due = _due(rt, handoff_id)
    sla = rt.policy.sla["hand_raise"].minutes
    clock.advance(minutes=sla + 1)
    worker.run_until_idle()
    [reminder] = smtp_sink.messages
    assert reminder.rcpt_tos == [owner.email] and reminder.subject.startswith("SLA reminder")
    assert "because Slack is not connected" in reminder.body
    _replay(rt, worker, "sla_check", {"handoff_id": handoff_id, "breach": 1, "due": due})
    assert len(smtp_sink.messages) == 1

    clock.advance(minutes=sla + 1)  # untouched again: reassigned, the manager is told
    worker.run_until_idle()
    [_, escalation] = smtp_sink.messages
    assert escalation.rcpt_tos == ["morgan@example.com"]
    assert escalation.subject == "SLA escalation: a lead was reassigned"
    worker.run_until_idle()
    assert len(smtp_sink.messages) == 2
    assert sorted(a.detail["step"] for a in _notices(rt)) == ["escalation", "reminder"]


def test_lead_text_stays_in_the_body_on_one_line(client: Any, worker: Any, rt: Any,
                                                 clock: Any, smtp_sink: Any) -> None:
    lead = {**LEAD_ADA, "first_name": "Ada\r\nBcc: victim@evil.test",
            "company": "Acme\nClick https://evil.test/login to approve"}
    card = pending_card(client, worker, hand_raise(lead=lead))
    clock.advance(minutes=rt.policy.sla["hand_raise"].minutes + 1)
    worker.run_until_idle()
    [mail] = smtp_sink.messages
    assert mail.rcpt_tos == [card["assignee"]]
    assert mail.message["Bcc"] is None and mail.message["Cc"] is None
    assert mail.subject == "SLA reminder: a lead is waiting for your decision"
    lines = mail.body.splitlines()
    [name_line] = [line for line in lines if line.startswith("Lead:")]
    [company_line] = [line for line in lines if line.startswith("Company:")]
    assert name_line.startswith('Lead:    "Ada') and "victim@evil.test" in name_line
    assert company_line.endswith('to approve"')  # the lead's words quoted, on their own line
    assert not any(line.startswith(("Bcc:", "Click")) for line in lines)
    assert f"{PUBLIC_URL}/v1/approvals/{card['approval_id']}" in mail.body


def test_a_mail_server_outage_is_retried_and_still_sends_once(
        client: Any, worker: Any, rt: Any, clock: Any, smtp_sink: Any) -> None:
    card = pending_card(client, worker)
    smtp_sink.refuse_next("451 4.3.0 try again later", "451 4.3.0 try again later")
    clock.advance(minutes=rt.policy.sla["hand_raise"].minutes + 1)
    worker.run_until_idle()
    assert smtp_sink.messages == [] and _notices(rt) == []
    for _ in range(2):  # past each backoff (seconds here), well before the second breach
        clock.advance(minutes=1)
        worker.run_until_idle()
    [mail] = smtp_sink.messages
    assert mail.rcpt_tos == [card["assignee"]]
    assert len(_notices(rt)) == 1


def test_no_reminder_email_once_the_owner_decided(client: Any, worker: Any, rt: Any,
                                                  clock: Any, smtp_sink: Any) -> None:
    card = pending_card(client, worker)
    assert decide(client, card["approval_id"], action="reject", reason_code="not_now",
                  actor=card["assignee"]).status_code == 200
    clock.advance(minutes=rt.policy.sla["hand_raise"].minutes + 1)
    worker.run_until_idle()
    assert [m for m in smtp_sink.messages if m.rcpt_tos == [card["assignee"]]] == []
    assert _notices(rt) == []


@pytest.mark.parametrize("slack_on", [True])
def test_with_slack_on_the_owner_without_a_slack_id_is_emailed_too(
        client: Any, worker: Any, rt: Any, clock: Any, smtp_sink: Any, fake_slack: Any) -> None:
    assert rt.settings.slack_enabled
    card = pending_card(client, worker)
    owner = rt.roster.find(card["assignee"])
    assert owner.slack_id is None
    clock.advance(minutes=rt.policy.sla["hand_raise"].minutes + 1)
    worker.run_until_idle()
    [mail] = smtp_sink.messages
    assert mail.rcpt_tos == [owner.email] and mail.subject.startswith("SLA reminder")
    # Slack still says it on the card in the shared channel (Slack names no one to ping).
    nudges = [c.params["text"] for c in fake_slack.calls("chat.postMessage")
              if c.params.get("channel") == APPROVALS and "passed its SLA" in
              c.params.get("text", "")]
    assert len(nudges) == 1 and owner.email in nudges[0]
    worker.run_until_idle()
    assert len(smtp_sink.messages) == 1


@pytest.mark.parametrize("slack_on", [True])
def test_the_owner_emailed_at_the_breach_is_not_emailed_again_when_slack_refuses_the_nudge(
        client: Any, worker: Any, rt: Any, clock: Any, smtp_sink: Any, fake_slack: Any) -> None:
    """The reminder on the shared channel's card refused for many minutes (service/job_watch.py
    `sla_nudge_failing`): the owner without a Slack id already has the breach's email."""
    card = pending_card(client, worker)
    assert rt.roster.find(card["assignee"]).slack_id is None
    fake_slack.fail_next("chat.postMessage", status=503, times=100_000)
    for _ in range(int(rt.policy.sla["hand_raise"].minutes) + 12):
        clock.advance(minutes=1)
        worker.run_until_idle()
    assert client.get("/v1/jobs", params={"kind": "slack_sla_reminder",
                                          "status": "retrying"}).json()  # still refused
    assert [m.subject for m in smtp_sink.messages] == [
        "SLA reminder: a lead is waiting for your decision"]


def _link(body: str, path: str) -> str:
    """The notice's link to `path`, as a browser would request it (path and query)."""
    [url] = [w for w in body.split() if w.startswith(f"{PUBLIC_URL}{path}?sig=")]
    return url.removeprefix(PUBLIC_URL)


def test_the_notice_link_opens_the_approval_without_a_login_until_it_expires(
        client: Any, worker: Any, rt: Any, clock: Any, smtp_sink: Any) -> None:
    card = pending_card(client, worker)
    clock.advance(minutes=rt.policy.sla["hand_raise"].minutes + 1)
    worker.run_until_idle()
    [mail] = smtp_sink.messages
    link = _link(mail.body, f"/v1/approvals/{card['approval_id']}")
    bearer = client.headers.pop("Authorization")  # a browser: no bearer header
    try:
        page = client.get(link)
        assert page.status_code == 200, page.text
        assert page.json()["approval_id"] == card["approval_id"]
        assert page.json()["status"] == "pending" and page.json()["history"]
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["referrer-policy"] == "no-referrer"
        # The link opens that one approval, read-only: not another path, not a write.
        other = link.replace(card["approval_id"], card["approval_id"][:-1] + "x")
        assert client.get(other).status_code == 403
        assert client.get(link.replace("sig=", "sig=0")).json()["detail"].startswith(
            "this link is not valid")
        decision = link.replace("?", "/decision?")
        assert client.post(decision, json={"action": "approve"}).status_code == 401
        assert client.get(f"/v1/approvals/{card['approval_id']}").status_code == 401
        clock.advance(hours=168)  # a week later the link has expired
        expired = client.get(link)
        assert expired.status_code == 403 and "expired" in expired.json()["detail"]
    finally:
        client.headers["Authorization"] = bearer
    assert client.get(f"/v1/approvals/{card['approval_id']}").status_code == 200


def test_without_a_signing_secret_the_notice_names_the_api_address(rt: Any, clock: Any) -> None:
    from types import SimpleNamespace

    from service.notice_email import read_link

    assert read_link(rt, "/v1/approvals/apr_1", clock.now())[0].startswith(
        f"{PUBLIC_URL}/v1/approvals/apr_1?sig=")
    unsigned = SimpleNamespace(settings=rt.settings.model_copy(
        update={"api_token": None, "link_secret": None}))  # nothing to sign with
    assert read_link(unsigned, "/v1/approvals/apr_1", clock.now()) == (  # type: ignore[arg-type]
        f"{PUBLIC_URL}/v1/approvals/apr_1", None)


@pytest.mark.parametrize("slack_on", [False, True])
def test_email_exactly_when_slack_cannot_reach_the_person(rt: Any, slack_on: bool) -> None:
    from agent.policy import Member
    from service.notice_email import needs_email
    from service.support_notices import queue_support_escalation

    assert rt.settings.slack_enabled is slack_on
    on_slack = Member(slack_id="U0SUP0001", email="sasha@example.com", name="Sasha",
                      role="support")
    off_slack = on_slack.model_copy(update={"slack_id": None})
    assert needs_email(rt, off_slack) and not needs_email(rt, None)
    assert needs_email(rt, on_slack) is not slack_on  # Slack off: a Slack id reaches nobody
    # The support lead's alert for an unclaimed transfer follows the same rule.
    with rt.db.session() as session:
        assert queue_support_escalation(rt, session, transfer_id="wt_1", recipient=on_slack,
                                        waited_minutes=5) is not slack_on
