"""The Slack side effects as durable jobs: rate limits and Slack outages are retried with
backoff and never lose a card or a decision; cards always show the approval's current state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from service.approvals import get_approval, list_approvals
from service.jobs import enqueue
from slack_app.store import cards_for_lead, get_card
from store.tables import Job
from tests.conftest import TOKEN, hand_raise, make_settings
from tests.fake_slack import FakeSlack, all_text, buttons, card_message, wait_until
from tests.flow import decide, ingest, pending_card


def _slack_jobs(rt: Any) -> list[Job]:
    with rt.db.session() as session:
        return list(session.scalars(select(Job).where(Job.kind.like("slack_%"))))


def test_a_429_on_post_is_retried_and_the_card_eventually_posts(client, worker, rt, clock,  # type: ignore[no-untyped-def]
                                                                fake_slack) -> None:
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=2)
    ingest(client, hand_raise())
    worker.run_until_idle()
    [approval] = list_approvals(rt)
    assert get_card(rt, approval["approval_id"]) is None
    [job] = _slack_jobs(rt)
    assert job.kind == "slack_post_approval" and "ratelimited" in (job.last_error or "")
    assert job.failed_at is None and job.run_at > clock.now()  # scheduled later, not dropped

    clock.advance(seconds=30)
    worker.run_until_idle()
    assert len(fake_slack.calls("chat.postMessage")) == 2
    message = card_message(rt, fake_slack, approval["approval_id"])
    assert buttons(message["blocks"])[0].startswith("Approve")
    assert _slack_jobs(rt) == []


def test_a_post_whose_answer_was_lost_is_found_not_posted_again(client, worker, rt, clock,  # type: ignore[no-untyped-def]
                                                                 fake_slack) -> None:
    """Slack took the card and its answer was lost (here a 500 after the post; a timeout or a
    crash before the row was saved alike): the retry finds the card in the channel and keeps
    it, instead of leaving an orphan that no decision updates and no erasure finds."""
    from store.tables import SlackMessageLog

    fake_slack.fail_next("chat.postMessage", status=500, applied=True)
    ingest(client, hand_raise())
    worker.run_until_idle()
    [approval] = list_approvals(rt)
    assert get_card(rt, approval["approval_id"]) is None  # not known to be posted yet
    clock.advance(seconds=30)
    worker.run_until_idle()

    assert len(fake_slack.calls("chat.postMessage")) == 1  # never posted twice
    [posted] = [m for m in fake_slack.messages.values() if buttons(m["blocks"])]
    card = get_card(rt, approval["approval_id"])
    assert card is not None and (card.channel, card.ts) == (posted["channel"], posted["ts"])
    with rt.db.session() as session:  # erasure's map of Slack has it
        assert session.scalar(select(SlackMessageLog.ts).where(
            SlackMessageLog.channel == card.channel)) == card.ts
    decide(client, approval["approval_id"], action="approve", actor="U0REP0001")
    worker.run_until_idle()
    assert buttons(fake_slack.message(card.channel, card.ts)["blocks"]) == []  # it is the card


def test_a_slack_outage_on_update_never_loses_the_decision(client, worker, rt, clock,  # type: ignore[no-untyped-def]
                                                           fake_slack, slack,
                                                           smtp_sink) -> None:
    card = pending_card(client, worker)
    fake_slack.fail_next("chat.update", status=503, times=2)
    slack.click(card_message(rt, fake_slack, card["approval_id"]), "Approve", "U0REP0001")
    wait_until(lambda: get_approval(rt, card["approval_id"])["status"] == "approved")
    worker.run_until_idle()
    assert len(smtp_sink.messages) == 1  # the email does not wait for Slack
    assert buttons(card_message(rt, fake_slack, card["approval_id"])["blocks"])
    for _ in range(3):
        clock.advance(minutes=2)
        worker.run_until_idle()
    assert len(fake_slack.calls("chat.update")) >= 3  # two refused, then through
    message = card_message(rt, fake_slack, card["approval_id"])
    assert buttons(message["blocks"]) == [] and "*Approved*" in all_text(message["blocks"])
    assert ":email: Sent" in all_text(message["blocks"])
    assert len(smtp_sink.messages) == 1


def test_a_card_decided_before_it_could_post_shows_the_decision(client, worker, rt, clock,  # type: ignore[no-untyped-def]
                                                                fake_slack) -> None:
    fake_slack.fail_next("conversations.open", status=500)
    ingest(client, hand_raise())
    worker.run_until_idle()
    [approval] = list_approvals(rt)
    assert decide(client, approval["approval_id"], action="approve",
                  actor="riley@example.com").status_code == 200
    clock.advance(minutes=1)
    worker.run_until_idle()
    message = card_message(rt, fake_slack, approval["approval_id"])
    assert buttons(message["blocks"]) == []
    assert "*Approved* by <@U0REP0001>" in all_text(message["blocks"])


def test_a_deleted_card_does_not_block_the_queue(client, worker, rt, fake_slack,  # type: ignore[no-untyped-def]
                                                 slack) -> None:
    card = pending_card(client, worker)
    fake_slack.fail_next("chat.update", error="message_not_found")
    slack.click(card_message(rt, fake_slack, card["approval_id"]), "Approve", "U0REP0001")
    wait_until(lambda: get_approval(rt, card["approval_id"])["status"] == "approved")
    worker.run_until_idle()
    assert _slack_jobs(rt) == []


def test_erasure_redacts_the_lead_cards(client, worker, rt, fake_slack) -> None:  # type: ignore[no-untyped-def]
    card = pending_card(client, worker)
    location = get_card(rt, card["approval_id"])
    assert client.delete(f"/v1/leads/{card['lead_id']}").status_code == 200
    with rt.db.session() as session:
        enqueue(session, "slack_redact_lead", {"lead_id": card["lead_id"]}, now=rt.clock.now())
    worker.run_until_idle()
    message = fake_slack.message(location.channel, location.ts)
    assert "erased" in message["text"] and "Ada" not in all_text(message["blocks"])
    assert cards_for_lead(rt, card["lead_id"]) == []


TEAM_WITHOUT_SLACK_ID = """
[[members]]
email = "nora@example.com"
name = "Nora Noslack"
role = "rep"
territories = ["US"]
segments = ["smb", "mid-market", "enterprise"]

[[members]]
slack_id = "U0MGR0001"
email = "morgan@example.com"
name = "Morgan Manager"
role = "manager"
"""


def test_an_owner_without_slack_id_gets_the_card_in_the_approvals_channel(  # type: ignore[no-untyped-def]
        tmp_path: Path, clock, smtp_sink, content_library) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from hitl.wiring import build_runtime
    from service.worker import Worker
    from tests.fake_slack import SlackSide

    team = tmp_path / "team.toml"
    team.write_text(TEAM_WITHOUT_SLACK_ID)
    with FakeSlack(users={"U0NORA001": {"profile": {"email": "Nora@example.com"}}}) as fake:
        settings = make_settings(tmp_path, smtp_url=smtp_sink.url, team_file=team,
                                 slack_bot_token="xoxb-test", slack_signing_secret="secret",
                                 slack_api_url=fake.url + "/",
                                 slack_approvals_channel="C0APPROVALS")
        rt = build_runtime(settings, clock=clock, library_override=content_library)
        rt.db.upgrade()
        worker = Worker(rt, threads=2)
        try:
            with TestClient(create_app(rt), headers={"Authorization": f"Bearer {TOKEN}"}) as c:
                card = pending_card(c, worker)
                assert card["assignee"] == "nora@example.com"
                assert fake.calls("conversations.open") == []
                message = card_message(rt, fake, card["approval_id"])
                assert message["channel"] == "C0APPROVALS"
                # Nora's Slack account is matched to the roster through the email Slack knows.
                SlackSide(c).click(message, "Approve", "U0NORA001")
                worker.run_until_idle()  # the worker records what Slack decided
                assert get_approval(rt, card["approval_id"])["decided_by"] == "nora@example.com"
                assert len(smtp_sink.messages) == 1
                text = all_text(card_message(rt, fake, card["approval_id"])["blocks"])
                assert "by nora@example.com" in text
        finally:
            worker.stop()
            rt.close()


def test_app_home_lists_open_approvals_oldest_first_with_sla_state(  # type: ignore[no-untyped-def]
        client, worker, rt, clock, fake_slack, slack) -> None:
    from tests.conftest import LEAD_ADA

    pending_card(client, worker)
    clock.advance(minutes=5)
    grace = dict(LEAD_ADA, email="grace@acme.io", first_name="Grace", last_name="Hopper")
    ingest(client, hand_raise("g", lead=grace, at=clock.now()))
    worker.run_until_idle()
    ada, grace_card = list_approvals(rt)  # oldest first
    assert ada["assignee"] == "U0REP0001" and grace_card["assignee"] != "U0REP0001"
    clock.advance(minutes=12)  # 17 min in: Ada's 15-minute SLA is overdue, Grace's is not

    slack.event({"type": "app_home_opened", "user": "U0REP0001", "channel": "D0REP0001",
                 "tab": "home"})
    [publish] = fake_slack.wait_for("views.publish")
    assert publish.params["user_id"] == "U0REP0001"
    view = publish.params["view"]
    assert view["type"] == "home"
    text = all_text(view["blocks"])
    assert "ada@acme.io" in text and "grace@acme.io" not in text
    assert "*overdue* by 2m" in text

    slack.event({"type": "app_home_opened", "user": "U0MGR0001", "tab": "home"})
    manager_view = fake_slack.wait_for("views.publish", 2)[1].params["view"]
    team_text = all_text(manager_view["blocks"])
    assert "Team queue (2 open)" in team_text
    assert team_text.index("ada@acme.io") < team_text.index("grace@acme.io")
    assert "due in 3m" in team_text and f"<@{grace_card['assignee']}>" in team_text


def _sdk_client(url: str, timeout: int) -> Any:
    from slack_sdk import WebClient

    return WebClient(token="xoxb-test", base_url=url, timeout=timeout)


def _keep_alive_client(url: str, timeout: int) -> Any:
    import httpx

    from slack_app.web import KeepAliveWebClient

    return KeepAliveWebClient(http=httpx.Client(timeout=timeout), token="xoxb-test",
                              base_url=url, timeout=timeout)


@pytest.mark.parametrize("make_client", [_sdk_client, _keep_alive_client],
                         ids=["sdk-urllib", "keep-alive"])
def test_web_calls_classify_slack_failures(make_client: Any) -> None:
    from service.jobs import RetryLater
    from slack_app.web import SlackCallFailed, call

    with FakeSlack() as fake:
        client = make_client(fake.url + "/", 5)
        fake.fail_next("chat.postMessage", status=429, retry_after=7)
        with pytest.raises(RetryLater) as limited:
            call(client.chat_postMessage, channel="C1", text="hi")
        assert limited.value.retry_after == 7  # type: ignore[attr-defined]
        fake.fail_next("chat.postMessage", status=502)
        with pytest.raises(RetryLater):
            call(client.chat_postMessage, channel="C1", text="hi")
        fake.fail_next("chat.postMessage", error="channel_not_found")
        with pytest.raises(SlackCallFailed) as refused:
            call(client.chat_postMessage, channel="C1", text="hi")
        assert refused.value.error == "channel_not_found"
        assert call(client.chat_postMessage, channel="C1", text="hi")["ok"] is True
    unreachable = make_client(fake.url + "/", 2)
    with pytest.raises(RetryLater):  # the fake is stopped now: connection refused
        call(unreachable.chat_postMessage, channel="C1", text="hi")


def test_erasure_publishes_again_the_home_tabs_that_listed_the_lead(  # type: ignore[no-untyped-def]
        client, worker, rt, fake_slack, slack) -> None:
    """Slack keeps a published Home tab until the app publishes another: the assignee's and
    the managers' tabs listed the lead's approval, and are published again without it."""
    card = pending_card(client, worker)
    for user in ("U0REP0001", "U0MGR0001"):
        slack.event({"type": "app_home_opened", "user": user, "tab": "home"})
    opened = fake_slack.wait_for("views.publish", 2)
    assert all("ada@acme.io" in all_text(c.params["view"]["blocks"]) for c in opened)

    assert client.delete(f"/v1/leads/{card['lead_id']}").status_code == 200
    worker.run_until_idle()
    republished = {c.params["user_id"]: all_text(c.params["view"]["blocks"])
                   for c in fake_slack.calls("views.publish")[2:]}
    assert {"U0REP0001", "U0MGR0001"} <= set(republished)
    assert not [user for user, text in republished.items() if "ada@acme.io" in text]
    assert "Nothing waiting for you" in republished["U0REP0001"]


def test_a_lost_answer_for_a_card_in_a_thread_is_found_there(client, worker, rt, clock,  # type: ignore[no-untyped-def]
                                                            fake_slack) -> None:
    """A revised version's card goes in the first card's thread: found there on the retry."""
    first = pending_card(client, worker)
    fake_slack.fail_next("chat.postMessage", status=500, applied=True)
    decide(client, first["approval_id"], action="revise", actor="U0REP0001",
           instruction="shorter please")
    worker.run_until_idle()
    clock.advance(seconds=30)
    worker.run_until_idle()
    [v2] = list_approvals(rt, status="pending")
    card = get_card(rt, v2["approval_id"])
    assert card is not None and card.thread_ts == get_card(rt, first["approval_id"]).ts
    posted_v2 = [c for c in fake_slack.calls("chat.postMessage")
                 if c.params.get("thread_ts") == card.thread_ts and buttons(c.params["blocks"])]
    assert len(posted_v2) == 1 and fake_slack.calls("conversations.replies")


def test_without_the_history_scope_a_retry_posts_as_before(client, worker, rt, clock,  # type: ignore[no-untyped-def]
                                                           fake_slack) -> None:
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=2)  # nothing was posted
    fake_slack.fail_next("conversations.history", error="missing_scope")
    ingest(client, hand_raise())
    worker.run_until_idle()
    clock.advance(seconds=30)
    worker.run_until_idle()
    [approval] = list_approvals(rt)
    assert get_card(rt, approval["approval_id"]) is not None
    assert len(fake_slack.calls("chat.postMessage")) == 2
