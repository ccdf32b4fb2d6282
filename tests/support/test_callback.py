"""Callbacks (issue 19 item 4): "call me tomorrow morning" in a support conversation is read
offline against the injected clock in the owner's time zone, becomes ONE scheduled task for the
owner (the support lead while the bot has it, the claiming agent once a person does), the
customer is told the time, and the SLA timer fires at that time: the owner is reminded, and
still open 30 minutes later the support lead is told. Slack is off: both hear by email."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from agent.support.callback_intent import read_callback
from config.settings import DEFAULTS_DIR, Settings
from store.tables import Job
from tests.conftest import SUPPORT_CHANNEL, T0, make_settings
from tests.fake_slack import FakeSlack
from tests.support.chat import conversation, say

# Sasha (the support lead) works from Paris; Jo (support, no Slack id) from Los Angeles.
TEAM = '''
[[members]]
email = "jo@example.com"
name = "Jo Helpdesk"
role = "support"
timezone = "America/Los_Angeles"
'''


@pytest.fixture
def slack_on() -> bool:
    return False


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path, smtp_sink: Any,
             database_url: str, slack_on: bool) -> Settings:
    team = tmp_path / "team.toml"
    roster = (DEFAULTS_DIR / "team.toml").read_text().replace(
        'name = "Sasha Support"', 'name = "Sasha Support"\ntimezone = "Europe/Paris"')
    team.write_text(roster + TEAM)
    slack: dict[str, Any] = {}
    if slack_on:
        fake: FakeSlack = request.getfixturevalue("fake_slack")
        slack = {"slack_bot_token": "xoxb-test", "slack_signing_secret": "secret",
                 "slack_api_url": fake.url + "/", "slack_support_channel": SUPPORT_CHANNEL}
    return make_settings(tmp_path, smtp_url=smtp_sink.url, database_url=database_url,
                         team_file=team, **slack)


def _headers(rt: Any, ref: str) -> dict[str, str]:
    from service import personal_tokens

    return {"Authorization": f"Bearer {personal_tokens.create(rt, ref)[1]}"}


def _mails(sink: Any, words: str) -> list[Any]:
    return [m for m in sink.messages if words in m.subject]


def test_the_time_is_read_in_the_given_zone_against_the_clock() -> None:
    # T0 is Wednesday 18 Nov 2026, 15:00 UTC: 16:00 in Paris, 07:00 in Los Angeles.
    paris = read_callback("Can you call me tomorrow morning?", T0, "Europe/Paris")
    assert paris is not None and paris.at == datetime(2026, 11, 19, 8, 0, tzinfo=UTC)
    la = read_callback("call me tomorrow morning", T0, "America/Los_Angeles")
    assert la is not None and la.at == datetime(2026, 11, 19, 17, 0, tzinfo=UTC)
    fr = read_callback("Rappelez-moi demain matin s'il vous plaît", T0, "Europe/Paris")
    assert fr is not None and fr.at == paris.at
    friday = read_callback("ring me back on Friday at 3pm on +44 20 7946 0958", T0,
                           "Europe/Paris")
    assert friday is not None and friday.at == datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
    assert friday.phone == "+442079460958"
    # 09:00 in Paris has passed at T0: with no day named it is tomorrow; "today" is refused.
    nine = read_callback("call me at 9am", T0, "Europe/Paris")
    assert nine is not None and nine.at == datetime(2026, 11, 19, 8, 0, tzinfo=UTC)
    past = read_callback("call me today at 9am", T0, "Europe/Paris")
    assert past is not None and past.at is None and past.problem == "past"
    in_two = read_callback("phone me in 2 hours", T0, "Europe/Paris")
    assert in_two is not None and in_two.at == datetime(2026, 11, 18, 17, 0, tzinfo=UTC)
    vague = read_callback("please call me", T0, "Europe/Paris")
    assert vague is not None and vague.at is None and vague.problem == "no_time"
    for text in ("How do I export my data?", "Don't call me, just email", "I called you"):
        assert read_callback(text, T0, "Europe/Paris") is None, text


def test_a_callback_request_is_one_task_with_the_sla_timer_at_the_time(
        support_client: Any, support_rt: Any, worker: Any, clock: Any,
        smtp_sink: Any) -> None:
    say(support_client, "How do I export my data to CSV?", email="ada@acme.io",
        name="Ada Park")
    asked = say(support_client, "Can you call me tomorrow morning? +33 6 12 34 56 78")
    assert asked["status"] == "bot"  # the bot answered it: no transfer, no guess
    assert "Sasha will call you on Thursday 19 November at 09:00 (Europe/Paris time)" \
        in asked["reply"] and "+33" not in asked["reply"]
    due = datetime(2026, 11, 19, 8, 0, tzinfo=UTC)

    listed = support_client.get("/v1/callbacks").json()
    assert len(listed) == 1
    [callback] = listed
    assert (callback["owner"], callback["timezone"], callback["phone"], callback["status"]) == (
        "U0SUP0001", "Europe/Paris", "+33612345678", "open")
    assert datetime.fromisoformat(callback["due_at"]) == due
    assert callback["local_time"] == "2026-11-19T09:00:00+01:00"
    assert conversation(support_client)["callbacks"][0]["callback_id"] == \
        callback["callback_id"]
    with support_rt.db.read() as session:
        [timer] = session.scalars(select(Job).where(Job.kind == "support_callback_due")).all()
        assert timer.run_at == due

    # The owner hears of it at once; nothing more before the time; at the time, a reminder.
    worker.run_until_idle()
    [heads_up] = _mails(smtp_sink, "asked you to call them back")
    assert heads_up.rcpt_tos == ["sasha@example.com"] and "09:00 (Europe/Paris)" in heads_up.body
    assert _mails(smtp_sink, "waiting for your call") == []
    clock.set(due)
    worker.run_until_idle()
    worker.run_until_idle()
    [reminder] = _mails(smtp_sink, "waiting for your call")
    assert reminder.rcpt_tos == ["sasha@example.com"] and "+33612345678" in reminder.body
    assert support_client.get("/v1/callbacks").json()[0]["reminded_at"] is not None

    # Done before the grace runs out: no escalation.
    done = support_client.post(f"/v1/callbacks/{callback['callback_id']}/done",
                               headers=_headers(support_rt, "U0SUP0001"))
    assert done.status_code == 200 and done.json()["status"] == "done"
    again = support_client.post(f"/v1/callbacks/{callback['callback_id']}/done",
                                headers=_headers(support_rt, "U0SUP0001"))
    assert again.status_code == 409
    clock.advance(hours=1)
    worker.run_until_idle()
    assert _mails(smtp_sink, "overdue") == []
    assert support_client.get("/v1/callbacks").json() == []
    assert len(support_client.get("/v1/callbacks", params={"status": "done"}).json()) == 1


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_a_claimed_conversation_s_callback_is_the_agent_s_and_escalates_when_missed(
        support_client: Any, support_rt: Any, worker: Any, clock: Any,
        smtp_sink: Any) -> None:
    say(support_client, "How do I export my data to CSV?", email="ada@acme.io")
    moved = say(support_client, "This is useless. I want to talk to a human")
    jo = _headers(support_rt, "jo@example.com")
    assert support_client.post(f"/v1/handoffs/{moved['handoff_id']}/claim",
                               headers=jo).status_code == 200
    # A person owns it: the message still reaches them, and the bot confirms the time in
    # Jo's zone (Los Angeles: 07:00 at T0, so "this afternoon" is today 14:00).
    asked = say(support_client, "Could you call me this afternoon instead of writing?")
    assert asked["status"] == "human"
    assert "Jo will call you on Wednesday 18 November at 14:00 (America/Los_Angeles time)" \
        in asked["reply"]
    # Asked again with another time: the same task moves, still one.
    moved_time = say(support_client, "Actually, call me tomorrow at 10am")
    assert "Thursday 19 November at 10:00" in moved_time["reply"]
    [callback] = support_client.get("/v1/callbacks").json()
    assert callback["owner"] == "jo@example.com"
    due = datetime(2026, 11, 19, 18, 0, tzinfo=UTC)
    assert datetime.fromisoformat(callback["due_at"]) == due

    clock.set(datetime(2026, 11, 18, 22, 30, tzinfo=UTC))  # the first time, moved: nothing
    worker.run_until_idle()
    heads_ups = _mails(smtp_sink, "asked you to call them back")
    assert {m.rcpt_tos[0] for m in heads_ups} == {"jo@example.com"}  # one per time asked
    assert len(heads_ups) == 2 and len(smtp_sink.messages) == 2
    clock.set(due)
    worker.run_until_idle()
    [reminder] = _mails(smtp_sink, "waiting for your call")
    assert reminder.rcpt_tos == ["jo@example.com"]
    clock.advance(minutes=29)
    worker.run_until_idle()
    assert _mails(smtp_sink, "overdue") == []
    clock.advance(minutes=1)
    worker.run_until_idle()
    worker.run_until_idle()
    [overdue] = _mails(smtp_sink, "overdue")
    assert overdue.rcpt_tos == ["sasha@example.com"] and "Jo Helpdesk" in overdue.body
    assert support_client.get("/v1/callbacks").json()[0]["escalated_at"] is not None
    text = support_client.get("/metrics").text
    for step in ("scheduled", "reminded", "escalated"):
        assert f'hitl_support_callbacks_total{{step="{step}"}}' in text


def test_a_request_without_a_usable_time_is_handed_to_a_person_not_scheduled(
        support_client: Any) -> None:
    say(support_client, "Where is the SSO setting?", "vague", email="ada@acme.io")
    vague = say(support_client, "Thanks. Can someone from support call me instead?", "vague")
    assert vague["status"] == "waiting_for_human" and vague["handoff_id"]
    say(support_client, "Where is the SSO setting?", "past", email="bo@acme.io")
    past = say(support_client, "call me today at 8am", "past")  # 08:00 in Paris has passed
    assert "will call you" not in (past["reply"] or "")
    assert support_client.get("/v1/callbacks").json() == []


@pytest.mark.parametrize("slack_on", [True])
def test_with_slack_the_owner_hears_in_the_support_channel_once_per_step(
        support_client: Any, worker: Any, clock: Any, fake_slack: FakeSlack,
        slack_on: bool) -> None:
    say(support_client, "How do I export my data to CSV?", email="ada@acme.io",
        name="<@U0MGR0001> *Ada*")
    say(support_client, "call me tomorrow morning please")
    worker.run_until_idle()
    clock.set(datetime(2026, 11, 19, 8, 0, tzinfo=UTC))
    worker.run_until_idle()
    worker.run_until_idle()
    posts = [c.params for c in fake_slack.calls("chat.postMessage")
             if "call them back" in str(c.params.get("text"))
             or "time to call" in str(c.params.get("text"))]
    assert len(posts) == 2 and {p["channel"] for p in posts} == {SUPPORT_CHANNEL}
    assert all(p["text"].startswith("<@U0SUP0001>") for p in posts)
    assert all("<@U0MGR0001>" not in p["text"] for p in posts)  # the customer's name is inert
