"""Customer satisfaction (issue 19 item 4): a resolved conversation asks for a rating (a person
resolving it, or the bot when the customer says its answer solved it); the rating takes the
conversation token (or a bearer token), once; a low score opens one follow-up for the support
lead (by email when Slack cannot reach them, else in the support channel); CSAT in /metrics."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from config.settings import Settings
from service.feedback_notices import EMAIL_JOB, deliver_email, notice_id
from store.tables import Job
from store.tables.feedback import SupportRating
from tests.conftest import SUPPORT_CHANNEL, make_settings
from tests.fake_slack import FakeSlack
from tests.support.chat import conversation, say

HOSTILE = "<script>alert(1)</script> <!channel> *bold* \u202e\x00 slow & rude"


@pytest.fixture
def slack_on() -> bool:
    return False


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path, smtp_sink: Any,
             database_url: str, slack_on: bool) -> Settings:
    """Slack off (the support lead is reached by email), unless `slack_on` is parametrized."""
    if slack_on:
        fake: FakeSlack = request.getfixturevalue("fake_slack")
        return make_settings(tmp_path, smtp_url=smtp_sink.url, database_url=database_url,
                             slack_bot_token="xoxb-test", slack_signing_secret="secret",
                             slack_api_url=fake.url + "/",
                             slack_support_channel=SUPPORT_CHANNEL)
    return make_settings(tmp_path, smtp_url=smtp_sink.url, database_url=database_url)


@pytest.fixture
def customer(support_rt: Any) -> Iterator[TestClient]:
    """A customer-side client: no bearer token at all."""
    from api.app import create_app

    with TestClient(create_app(support_rt)) as c:
        yield c


@pytest.fixture
def sasha(support_rt: Any) -> dict[str, str]:
    """Sasha (support, the support lead by default): a personal token's header."""
    from service import personal_tokens

    return {"Authorization": f"Bearer {personal_tokens.create(support_rt, 'U0SUP0001')[1]}"}


def _start(client: Any, conversation_id: str = "conv-1") -> str:
    first = say(client, "How do I export my data to CSV?", conversation_id,
                email="ada@acme.io", name="Ada Park")
    assert first["status"] == "bot" and first["reply"]
    return str(first["conversation_token"])


def _resolved_by_a_person(client: Any, sasha: dict[str, str],
                          conversation_id: str = "conv-1") -> str:
    token = _start(client, conversation_id)
    moved = say(client, "This is useless. I want to talk to a human", conversation_id)
    handoff = moved["handoff_id"]
    for step in ("claim", "resolve"):
        done = client.post(f"/v1/handoffs/{handoff}/{step}", headers=sasha)
        assert done.status_code == 200, done.text
    return token


def _rate(client: Any, body: dict[str, Any], conversation_id: str = "conv-1",
          **kwargs: Any) -> Any:
    return client.post(f"/v1/conversations/{conversation_id}/rating", json=body, **kwargs)


def test_a_person_resolving_asks_for_a_rating_taken_once_with_the_token(
        support_client: Any, customer: TestClient, sasha: dict[str, str]) -> None:
    token = _resolved_by_a_person(support_client, sasha)
    read = customer.get("/v1/conversations/conv-1", params={"token": token}).json()
    assert read["status"] == "resolved"
    assert read["rating"] == {"requested": True, "score": None, "rated_at": None}
    assert read["messages"][-1]["role"] == "bot"
    assert read["messages"][-1]["text"].startswith("How did we do?")

    # Refused without a credential, with another conversation's token, out of range.
    assert _rate(customer, {"score": 5}).status_code == 401
    assert _rate(customer, {"score": 5, "token": "not-the-token"}).status_code == 403
    other = _start(support_client, "conv-2")
    assert _rate(customer, {"score": 5, "token": other}).status_code == 403
    for bad in (0, 6, "5", 4.5):
        refused = _rate(customer, {"score": bad, "token": token})
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == "score"
    long = _rate(customer, {"score": 5, "token": token, "comment": "x" * 1001})
    assert long.status_code == 422 and long.json()["errors"][0]["field"] == "comment"

    rated = _rate(customer, {"score": 5, "comment": HOSTILE, "token": token})
    assert rated.status_code == 200, rated.text
    body = rated.json()
    assert (body["score"], body["path"], body["trigger"], body["agent"], body["followup"]) == (
        5, "transferred", "asked_for_human", "U0SUP0001", False)
    assert body["comment"].startswith("<script>") and "\x00" not in body["comment"]
    again = _rate(customer, {"score": 4, "token": token})
    assert again.status_code == 409 and "already rated" in again.json()["detail"]
    assert _rate(support_client, {"score": 4}).status_code == 409  # the API token too
    read = customer.get("/v1/conversations/conv-1", params={"token": token}).json()
    assert read["rating"]["requested"] is True and read["rating"]["score"] == 5

    text = support_client.get("/metrics").text
    assert ('hitl_csat_ratings_total{agent="U0SUP0001",path="transferred",score="5",'
            'trigger="asked_for_human"} 1.0') in text


def test_an_unresolved_conversation_cannot_be_rated(
        support_client: Any, customer: TestClient) -> None:
    token = _start(support_client)
    refused = _rate(customer, {"score": 3, "token": token})
    assert refused.status_code == 409 and "not resolved" in refused.json()["detail"]
    assert _rate(support_client, {"score": 3}).status_code == 409
    assert conversation(support_client)["rating"] == {"requested": False, "score": None,
                                                      "rated_at": None}


def test_the_bot_resolves_when_its_answer_solved_it_and_asks_for_a_rating(
        support_client: Any, support_rt: Any, customer: TestClient) -> None:
    token = _start(support_client)
    # A plain thanks keeps the conversation open; "that solved it" closes it.
    assert say(support_client, "thanks!")["status"] == "bot"
    closed = say(support_client, "Thanks, that solved it!")
    assert closed["status"] == "resolved" and closed["reply"].startswith("Great")
    read = conversation(support_client)
    assert read["rating"]["requested"] is True
    assert [m["text"][:14] for m in read["messages"][-2:]] == ["Great, I'm gla",
                                                                "How did we do?"]
    rated = _rate(support_client, {"score": 4})  # the API token (a widget backend)
    assert rated.status_code == 200, rated.text
    assert (rated.json()["path"], rated.json()["trigger"], rated.json()["agent"]) == (
        "bot_only", None, None)
    # Writing again reopens it: a new stretch, not rated until it is resolved again.
    assert say(support_client, "One more question: where are my invoices?")["status"] == "bot"
    assert _rate(customer, {"score": 2, "token": token}).status_code == 409
    assert conversation(support_client)["rating"]["requested"] is False


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_a_low_score_opens_one_follow_up_by_email_for_the_support_lead(
        support_client: Any, support_rt: Any, customer: TestClient, worker: Any,
        smtp_sink: Any, sasha: dict[str, str]) -> None:
    token = _resolved_by_a_person(support_client, sasha)
    # The same rating sent twice at once (a double click, a retry): one wins.
    barrier = threading.Barrier(2)
    answers: list[Any] = []

    def send() -> None:
        barrier.wait()
        answers.append(_rate(customer, {"score": 1, "comment": HOSTILE, "token": token}))

    racers = [threading.Thread(target=send) for _ in range(2)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    assert sorted(a.status_code for a in answers) == [200, 409]
    rated = next(a for a in answers if a.status_code == 200)
    assert rated.json()["followup"] is True
    assert _rate(customer, {"score": 1, "token": token}).status_code == 409  # replayed
    worker.run_until_idle()
    mails = [m for m in smtp_sink.messages if "rated a conversation poorly" in m.subject]
    assert len(mails) == 1 and mails[0].rcpt_tos == ["sasha@example.com"]
    assert "rated their support conversation 1/5" in mails[0].body
    assert "asked_for_human" in mails[0].body and "\x00" not in mails[0].body
    # The job delivered again (a crash after sending, a replay): still one email.
    with support_rt.db.read() as session:
        assert session.scalars(select(Job).where(Job.kind == EMAIL_JOB)).all() == []  # done
        row = session.scalars(select(SupportRating)).one()
        assert row.followup_to == "U0SUP0001" and row.followup_via == "email"
        assert row.followup_done_at is not None
    deliver_email(support_rt, {"notice_id": notice_id("csat", row.id), "kind": "csat",
                               "subject_id": row.id, "to": "U0SUP0001"})
    worker.run_until_idle()
    assert len([m for m in smtp_sink.messages if "poorly" in m.subject]) == 1
    assert 'hitl_csat_followups_total 1.0' in support_client.get("/metrics").text


@pytest.mark.parametrize("slack_on", [True])
def test_a_low_score_is_posted_once_in_the_support_channel(
        support_client: Any, customer: TestClient, worker: Any, fake_slack: FakeSlack,
        sasha: dict[str, str], slack_on: bool) -> None:
    token = _resolved_by_a_person(support_client, sasha)
    assert _rate(customer, {"score": 2, "comment": HOSTILE, "token": token}).status_code == 200
    worker.run_until_idle()
    worker.run_until_idle()
    posts = [c.params for c in fake_slack.calls("chat.postMessage")
             if "please follow up" in str(c.params.get("text"))]
    assert len(posts) == 1
    text = posts[0]["text"]
    assert posts[0]["channel"] == SUPPORT_CHANNEL and text.startswith("<@U0SUP0001>")
    assert "<script>" not in text and "&lt;script&gt;" in text and "<!channel>" not in text


@pytest.mark.parametrize("slack_on", [True])
def test_erasing_the_customer_redacts_the_low_score_post(
        support_client: Any, customer: TestClient, worker: Any, fake_slack: FakeSlack,
        sasha: dict[str, str], slack_on: bool) -> None:
    """The follow-up quotes the customer's name and comment: it is logged against the
    conversation, so the customer's erasure finds it and redacts it."""
    token = _resolved_by_a_person(support_client, sasha)
    comment = "Zelda says glorpfizzle is broken"
    assert _rate(customer, {"score": 1, "comment": comment, "token": token}).status_code == 200
    worker.run_until_idle()
    worker.run_until_idle()
    [key] = [k for k, m in fake_slack.messages.items() if "please follow up" in m["text"]]
    assert "glorpfizzle" in fake_slack.message(*key)["text"]
    assert support_client.delete("/v1/customers/ada@acme.io").status_code == 200
    worker.run_until_idle()
    worker.run_until_idle()
    shown = str(fake_slack.message(*key))
    assert "glorpfizzle" not in shown and "Ada" not in shown


def test_migration_0016_matches_the_tables(support_rt: Any) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from store.tables import Base

    with support_rt.db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    mine = [d for d in diff if "support_ratings" in repr(d) or "support_callbacks" in repr(d)]
    assert mine == []
