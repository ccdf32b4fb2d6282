"""Who a Slack user is: the roster member listed with their Slack id; the email on their Slack
profile (`users.info`) counts only for members listed without a `slack_id`. Driven with signed
Slack requests through Bolt, the real worker, the fake Web API and the SMTP sink."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.policy import Member, Roster
from config.settings import DEFAULTS_DIR
from service.approvals import get_approval
from tests.conftest import make_settings
from tests.fake_slack import FakeSlack, buttons, card_message, wait_until
from tests.flow import pending_card

# A manager listed by email only (no Slack id): the profile-email fallback is for her alone.
UNLINKED = """
[[members]]
email = "pat@example.com"
name = "Pat Unlinked"
role = "manager"
"""


@pytest.fixture(name="settings")
def settings_fixture(tmp_path: Path, smtp_sink: Any, database_url: str,
                     fake_slack: FakeSlack) -> Any:
    team = tmp_path / "team.toml"
    team.write_text((DEFAULTS_DIR / "team.toml").read_text() + UNLINKED)
    return make_settings(tmp_path, smtp_url=smtp_sink.url, database_url=database_url,
                         slack_bot_token="xoxb-test", slack_signing_secret="secret",
                         slack_api_url=fake_slack.url + "/", team_file=team)


def _assignee_email(rt: Any, approval: dict[str, Any]) -> str:
    member = rt.roster.find(approval["assignee"])
    assert member is not None and member.slack_id == approval["assignee"]
    return str(member.email)


def test_a_second_account_showing_a_linked_members_email_is_not_that_member(
        client: Any, worker: Any, rt: Any, fake_slack: FakeSlack, slack: Any,
        smtp_sink: Any) -> None:
    card = pending_card(client, worker)
    email = _assignee_email(rt, card)
    # Another Slack account whose profile shows the assignee's email (any case).
    fake_slack.users["U0IMPOSTOR"] = {"profile": {"email": email.upper()}}
    message = card_message(rt, fake_slack, card["approval_id"])

    assert slack.click(message, "Approve", "U0IMPOSTOR").status_code == 200
    assert slack.click(message, "Edit", "U0IMPOSTOR").status_code == 200
    refusals = fake_slack.wait_for("chat.postEphemeral", 2)
    worker.run_until_idle()
    assert {c.params["user"] for c in refusals} == {"U0IMPOSTOR"}
    assert all(c.params["text"].startswith("Only the assignee") for c in refusals)
    assert fake_slack.calls("views.open") == []
    assert get_approval(rt, card["approval_id"])["status"] == "pending"
    assert smtp_sink.messages == []
    assert buttons(card_message(rt, fake_slack, card["approval_id"])["blocks"])

    # The member's own account still decides.
    assert slack.click(message, "Approve", card["assignee"]).status_code == 200
    wait_until(lambda: get_approval(rt, card["approval_id"])["status"] == "approved")
    assert get_approval(rt, card["approval_id"])["decided_by"] == card["assignee"]


def test_a_member_listed_without_a_slack_id_is_found_by_profile_email(
        client: Any, worker: Any, rt: Any, fake_slack: FakeSlack, slack: Any,
        smtp_sink: Any) -> None:
    card = pending_card(client, worker)
    fake_slack.users["U0PATSLACK"] = {"profile": {"email": "Pat@Example.com"}}
    message = card_message(rt, fake_slack, card["approval_id"])

    assert slack.click(message, "Approve", "U0PATSLACK").status_code == 200
    wait_until(lambda: get_approval(rt, card["approval_id"])["status"] == "approved")
    worker.run_until_idle()
    assert get_approval(rt, card["approval_id"])["decided_by"] == "pat@example.com"
    assert len(smtp_sink.messages) == 1
    assert [c.params["user"] for c in fake_slack.calls("users.info")] == ["U0PATSLACK"]


def test_deleted_accounts_and_bots_never_match_by_email(
        client: Any, worker: Any, rt: Any, fake_slack: FakeSlack, slack: Any) -> None:
    card = pending_card(client, worker)
    fake_slack.users["U0GONE"] = {"deleted": True, "profile": {"email": "pat@example.com"}}
    fake_slack.users["U0BOTPAT"] = {"is_bot": True, "profile": {"email": "pat@example.com"}}
    message = card_message(rt, fake_slack, card["approval_id"])
    for user in ("U0GONE", "U0BOTPAT"):
        assert slack.click(message, "Approve", user).status_code == 200
    refusals = fake_slack.wait_for("chat.postEphemeral", 2)
    worker.run_until_idle()
    assert {c.params["user"] for c in refusals} == {"U0GONE", "U0BOTPAT"}
    assert get_approval(rt, card["approval_id"])["status"] == "pending"


def test_roster_lookup_by_slack_identity() -> None:
    roster = Roster(members=[
        Member(slack_id="U0REP0001", email="riley@example.com", name="Riley", role="rep"),
        Member(email="pat@example.com", name="Pat", role="manager"),
    ])
    riley, pat = roster.members
    assert roster.for_slack_user("U0REP0001") is riley
    assert roster.for_slack_user("U0REP0001", "someone@else.example") is riley  # id wins
    assert roster.for_slack_user("U0OTHER", "riley@example.com") is None  # linked elsewhere
    assert roster.for_slack_user("U0OTHER", " PAT@example.com ") is pat
    assert roster.for_slack_user("U0OTHER", None) is None
    assert roster.for_slack_user("U0OTHER", "") is None
    assert roster.by_slack_id("u0rep0001") is riley and roster.by_slack_id(None) is None
