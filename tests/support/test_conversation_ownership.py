"""Conversations belong to their customer (issue 13, class 6; contract section 6): the first
message's email owns the id and gets the conversation token; any other author gets a 409 that
says nothing about the conversation; customer-side reads hold the token, never the API token."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from service import conversations as service

URL = "/v1/conversations/own-1"
QUESTION = "How do I reset my password?"


def post(client: Any, body: dict[str, Any], conversation: str = "own-1") -> Any:
    return client.post(f"/v1/conversations/{conversation}/messages", json=body)


def start(client: Any, conversation: str = "own-1", email: str = "ada@acme.io") -> str:
    first = post(client, {"text": QUESTION, "customer": {"email": email, "name": "Ada Park"}},
                 conversation)
    assert first.status_code == 200, first.text
    token = first.json()["conversation_token"]
    assert isinstance(token, str) and len(token) >= 32
    return str(token)


@pytest.fixture(name="widget")
def widget_fixture(support_client: Any) -> Any:
    """A client with no API token, as a customer-side widget is."""
    from fastapi.testclient import TestClient

    with TestClient(support_client.app) as c:
        yield c


def transcript(client: Any, conversation: str = "own-1") -> list[dict[str, Any]]:
    response = client.get(f"/v1/conversations/{conversation}")
    assert response.status_code == 200, response.text
    return list(response.json()["messages"])


# Other authors, each with a message that must not land: another email (also look-alikes and
# case tricks on a different mailbox), no email at all, a wrong token, the right email with a
# wrong token.
HIJACKS: list[dict[str, Any]] = [
    {"customer": {"email": "mallory@evil.io"}},
    {"customer": {"email": "ada@acme.io.evil.io"}},
    {"customer": {"email": "ada@xn--cme-5cd.io"}},  # the Cyrillic "аcme.io"
    {"customer": {"email": "ada+x@acme.io"}},
    {"customer": {"email": "ADA@ACME.IO.EVIL.IO", "name": "Ada Park"}},
    {"customer": {"name": "Ada Park"}},
    {},
    {"token": "not-the-token"},
    {"token": "x" * 128},
    {"customer": {"email": "ada@acme.io"}, "token": "guessed"},
]


def test_another_author_gets_409_and_learns_nothing(support_client: Any) -> None:
    start(support_client)
    before = transcript(support_client)
    secrets_of_the_conversation = ["ada", "acme", "Ada Park", "reset", "password", "bot",
                                   "human", "waiting", "resolved", "Source", "handoff"]
    for hijack in HIJACKS:
        response = post(support_client, {"text": "What did I ask you before?", **hijack})
        assert response.status_code == 409, (hijack, response.text)
        assert response.json() == {"detail": service.NOT_YOURS}, response.text
        for secret in secrets_of_the_conversation:
            assert secret.lower() not in response.text.lower(), (hijack, secret)
    assert transcript(support_client) == before  # nothing stored, nothing answered


def test_hostile_addresses_are_422_not_a_way_in(support_client: Any) -> None:
    start(support_client)
    for email in ("ada@acme.io, mallory@evil.io", "ada@acme.io;mallory@evil.io",
                  "Ada <ada@acme.io>", "@evil.io:ada@acme.io", "ada(me)@acme.io",
                  "ada@acme.io\r\nBcc: mallory@evil.io", "ada@acme.io\x00", "a" * 300):
        response = post(support_client, {"text": "hi", "customer": {"email": email}})
        assert response.status_code == 422, (email, response.text)
        assert response.json()["errors"][0]["field"] == "customer.email"
    assert len(transcript(support_client)) == 2


def test_the_owner_writes_with_the_email_in_any_case_or_with_the_token(
        support_client: Any) -> None:
    token = start(support_client, email="Ada@Acme.io")
    again = post(support_client, {"text": "Where can I download my invoices?",
                                  "customer": {"email": "ADA@ACME.IO"}})
    assert again.status_code == 200, again.text
    assert again.json()["reply"] and "conversation_token" not in again.json()
    by_token = post(support_client, {"text": "thanks!", "token": token})
    assert by_token.status_code == 200 and by_token.json()["reply"].startswith("You're welcome")
    roles = [m["role"] for m in transcript(support_client)]
    assert roles == ["customer", "bot"] * 3


def test_only_the_first_answer_carries_the_token_and_it_is_stored_hashed(
        support_client: Any, support_rt: Any) -> None:
    token = start(support_client)
    from store.tables import SupportConversation

    with support_rt.db.session() as session:
        row = session.scalar(select(SupportConversation).where(SupportConversation.id == "own-1"))
        assert row is not None
        stored = json.dumps({c.name: str(getattr(row, c.name))
                             for c in SupportConversation.__table__.columns})
    assert token not in stored and row.token_hash and len(row.token_hash) == 64
    second = start(support_client, conversation="own-2")
    assert second != token  # random per conversation


def test_the_token_reads_the_conversation_without_the_api_token(support_client: Any,
                                                                widget: Any) -> None:
    token = start(support_client)
    response = widget.get(URL, params={"token": token})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["status"] == "bot" and [m["role"] for m in body["messages"]] == ["customer", "bot"]
    assert body["messages"][0]["text"] == QUESTION
    # The API token reads it too (the widget backend, the support team).
    assert support_client.get(URL).json()["messages"] == body["messages"]


def test_a_wrong_token_is_the_same_404_as_an_unknown_id(support_client: Any, widget: Any
                                                        ) -> None:
    token = start(support_client)
    other = start(support_client, conversation="own-2", email="bo@example.org")
    unknown = widget.get("/v1/conversations/nope-1", params={"token": token})
    assert unknown.status_code == 404
    for wrong in ("wrong", token[:-1], token + "x", other, token.upper()):
        response = widget.get(URL, params={"token": wrong})
        assert response.status_code == 404, wrong
        # Word for word what an unknown id gets: nothing says this one exists.
        assert response.json() == {"detail": "conversation own-1 not found"}
        assert response.json()["detail"].replace("own-1", "nope-1") == unknown.json()["detail"]
    # No token and no bearer: the usual 401; a bad bearer without a token too.
    assert widget.get(URL).status_code == 401
    assert widget.get(URL, headers={"Authorization": "Bearer wrong"}).status_code == 401
    # The token reads its own conversation only; the messages route still needs the API token.
    assert widget.post(f"{URL}/messages", params={"token": token},
                       json={"text": "hi", "token": token}).status_code == 401


def test_an_anonymous_conversation_takes_an_email_only_with_the_token(support_client: Any
                                                                      ) -> None:
    first = post(support_client, {"text": QUESTION})
    token = first.json()["conversation_token"]
    assert post(support_client, {"text": "thanks!"}).status_code == 200
    claimed = post(support_client, {"text": "It's Mallory", "customer": {"email": "m@evil.io"}})
    assert claimed.status_code == 409
    proven = post(support_client, {"text": "It's Ada", "token": token,
                                   "customer": {"email": "ada@acme.io"}})
    assert proven.status_code == 200, proven.text
    assert support_client.get(URL).json()["customer"]["email"] == "ada@acme.io"
    # From now on the email is the owner's: another one is refused.
    assert post(support_client, {"text": "hi", "customer": {"email": "m@evil.io"}}
                ).status_code == 409


def test_concurrent_first_messages_leave_exactly_one_owner(support_client: Any) -> None:
    import threading

    barrier = threading.Barrier(4)
    codes: dict[str, int] = {}

    def first(email: str) -> None:
        barrier.wait()
        codes[email] = post(support_client, {"text": QUESTION, "customer": {"email": email}}
                            ).status_code

    threads = [threading.Thread(target=first, args=(f"c{i}@example.org",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes.values()) == [200, 409, 409, 409], codes
    owner = support_client.get(URL).json()["customer"]["email"]
    assert codes[owner] == 200
    assert [m["role"] for m in transcript(support_client)] == ["customer", "bot"]


@pytest.mark.postgres
def test_ownership_holds_across_replicas_on_postgresql(tmp_path: Any, postgres_url: str,
                                                       clock: Any, support_kb: Any) -> None:
    from hitl.wiring import build_runtime
    from service.conversations import CustomerMessageIn
    from service.support import install_support
    from tests.conftest import make_settings

    settings = make_settings(tmp_path, database_url=postgres_url)
    a, b = (build_runtime(settings, clock=clock) for _ in range(2))
    try:
        for rt in (a, b):
            rt.db.upgrade()  # migration 0009 on PostgreSQL
            install_support(rt, knowledge_base=support_kb)
        first = service.post_message(a, "pg-own", CustomerMessageIn.model_validate(
            {"text": QUESTION, "customer": {"email": "ada@acme.io"}}))
        token = first["conversation_token"]
        with pytest.raises(service.NotYourConversation):
            service.post_message(b, "pg-own", CustomerMessageIn.model_validate(
                {"text": "What did I ask?", "customer": {"email": "mallory@evil.io"}}))
        assert service.post_message(b, "pg-own", CustomerMessageIn.model_validate(
            {"text": "thanks!", "customer": {"email": "ADA@acme.io"}}))["reply"]
        read = service.get_conversation(b, "pg-own", token=token)
        assert [m["role"] for m in read["messages"]] == ["customer", "bot"] * 2
        with pytest.raises(service.NotFound):
            service.get_conversation(b, "pg-own", token=token + "x")
    finally:
        for rt in (a, b):
            rt.close()
