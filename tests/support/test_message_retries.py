"""A customer message retried with the same `Idempotency-Key` (a widget whose request timed out)
is stored and answered once: the retry gets the first request's reply, no second message, no
second bot turn; a retried first message is answered without a new conversation token. The same
key with another message is refused; strangers are still refused first."""

from __future__ import annotations

from typing import Any

import pytest

URL = "/v1/conversations/retry-1"
QUESTION = "How do I reset my password?"
ADA = {"email": "ada@acme.io", "name": "Ada Park"}


def post(client: Any, body: dict[str, Any], key: str | None = None, url: str = URL) -> Any:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post(f"{url}/messages", json=body, headers=headers)


def transcript(client: Any, url: str = URL) -> list[tuple[str, str]]:
    response = client.get(url)
    assert response.status_code == 200, response.text
    return [(m["role"], m["text"]) for m in response.json()["messages"]]


@pytest.fixture(name="widget")
def widget_fixture(support_client: Any) -> Any:
    """A client with no API token, as a customer-side widget is."""
    from fastapi.testclient import TestClient

    with TestClient(support_client.app) as c:
        yield c


class CountedTurns:
    """The conversation graph, counting its runs (a turn per run)."""

    def __init__(self, graph: Any) -> None:
        self.graph, self.runs = graph, 0

    def invoke(self, *args: Any, **kwargs: Any) -> Any:
        self.runs += 1
        return self.graph.invoke(*args, **kwargs)


@pytest.fixture
def turns(support_rt: Any) -> CountedTurns:
    from service.support import support

    services = support(support_rt)
    counted = CountedTurns(services.graph)
    services.__dict__["graph"] = counted
    return counted


def test_a_retried_message_is_stored_and_answered_once(support_client: Any,
                                                       turns: CountedTurns) -> None:
    post(support_client, {"text": "Hello", "customer": ADA})
    body = {"text": QUESTION, "customer": ADA}
    first = post(support_client, body, key="req-7f3a")
    assert first.status_code == 200 and first.json()["reply"]
    after_first = transcript(support_client)
    assert turns.runs == 2

    again = post(support_client, body, key="req-7f3a")
    assert again.status_code == 200
    assert again.json() == first.json()
    assert transcript(support_client) == after_first  # no second message, no second reply
    assert turns.runs == 2  # and no second turn
    assert [role for role, text in after_first if text == QUESTION] == ["customer"]

    # A new key is a new message, answered again.
    third = post(support_client, body, key="req-9c1d")
    assert third.status_code == 200 and turns.runs == 3
    assert len(transcript(support_client)) == len(after_first) + 2


def test_a_retried_first_message_is_answered_without_a_new_token(
        support_client: Any, widget: Any) -> None:
    """The token is shown once (only its hash is kept). Issuing another on a replay would give
    whoever can repeat the first request a read of the conversation and lock the customer's
    token out: the replay is answered without one, and the first token keeps working."""
    body = {"text": QUESTION, "customer": ADA}
    first = post(support_client, body, key="first-1")
    again = post(support_client, body, key="first-1")
    assert first.status_code == again.status_code == 200
    token = first.json()["conversation_token"]
    assert "conversation_token" not in again.json()
    assert again.json()["reply"] == first.json()["reply"]
    assert widget.get(URL, params={"token": token}).status_code == 200
    assert [role for role, _ in transcript(support_client)].count("customer") == 1


def test_a_key_reused_for_another_message_is_refused_and_nothing_is_written(
        support_client: Any) -> None:
    post(support_client, {"text": QUESTION, "customer": ADA}, key="k1")
    before = transcript(support_client)
    other = post(support_client, {"text": "Cancel my plan", "customer": ADA}, key="k1")
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"
    assert transcript(support_client) == before


def test_a_stranger_replaying_a_key_is_refused_before_anything(support_client: Any) -> None:
    post(support_client, {"text": QUESTION, "customer": ADA}, key="k2")
    before = transcript(support_client)
    stolen = post(support_client, {"text": QUESTION, "customer": {"email": "mallory@evil.io"}},
                  key="k2")
    assert stolen.status_code == 409
    assert "conversation_token" not in stolen.text and "password" not in stolen.text
    assert transcript(support_client) == before


def test_keys_belong_to_their_conversation(support_client: Any) -> None:
    body = {"text": QUESTION, "customer": ADA}
    assert post(support_client, body, key="shared").status_code == 200
    other = post(support_client, body, key="shared", url="/v1/conversations/retry-2")
    assert other.status_code == 200 and other.json()["conversation_token"]
    assert [r for r, _ in transcript(support_client, "/v1/conversations/retry-2")].count(
        "customer") == 1


@pytest.mark.parametrize("key", ["", "k" * 201])
def test_a_bad_key_is_named(support_client: Any, key: str) -> None:
    response = post(support_client, {"text": QUESTION, "customer": ADA}, key=key)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"  # as the client sent it
    assert "Idempotency-Key" in response.json()["detail"]


def test_a_retry_after_a_turn_that_failed_runs_the_turn(support_client: Any,
                                                        support_rt: Any) -> None:
    """The first request stored the message, then its turn failed (a 500): the retry does not
    store it again but answers it, once."""
    from fastapi.testclient import TestClient

    from service.support import support

    services = support(support_rt)
    graph = services.graph

    class FailsOnce:
        failed = False
        runs = 0

        def invoke(self, *args: Any, **kwargs: Any) -> Any:
            self.runs += 1
            if not self.failed:
                self.failed = True
                raise RuntimeError("the model's answer was cut off")
            return graph.invoke(*args, **kwargs)

    services.__dict__["graph"] = FailsOnce()
    body = {"text": QUESTION, "customer": ADA}
    with TestClient(support_client.app, raise_server_exceptions=False,
                    headers=dict(support_client.headers)) as client:
        assert post(client, body, key="k3").status_code == 500
    assert transcript(support_client) == [("customer", QUESTION)]
    retried = post(support_client, body, key="k3")
    assert retried.status_code == 200 and retried.json()["reply"]
    roles = [role for role, _ in transcript(support_client)]
    assert roles.count("customer") == 1 and roles.count("bot") == 1
    runs = services.graph.runs
    again = post(support_client, body, key="k3")
    assert again.json()["reply"] == retried.json()["reply"]
    assert [role for role, _ in transcript(support_client)] == roles
    assert services.graph.runs == runs  # answered: no third turn
