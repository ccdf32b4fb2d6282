"""Talking to the support API as a widget backend does (helpers, no fixtures: those are in
tests/conftest.py)."""

from __future__ import annotations

from typing import Any


def say(client: Any, text: str, conversation: str = "conv-1", **customer: Any) -> dict[str, Any]:
    """Post as a widget backend does: the customer named on a conversation's first message is
    sent again with every later one (the conversation belongs to that email)."""
    known: dict[str, dict[str, Any]] = client.__dict__.setdefault("_customers", {})
    customer = customer or known.get(conversation, {})
    known.setdefault(conversation, customer)
    body: dict[str, Any] = {"text": text}
    if customer:
        body["customer"] = customer
    response = client.post(f"/v1/conversations/{conversation}/messages", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def conversation(client: Any, conversation_id: str = "conv-1") -> dict[str, Any]:
    response = client.get(f"/v1/conversations/{conversation_id}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def handoff(client: Any, handoff_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/handoffs/{handoff_id}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def transfer_to_a_person(client: Any, worker: Any, conversation_id: str = "conv-1",
                         name: str = "Ada Park") -> str:
    """Ada asks a question, then for a human: the warm transfer's id, its card posted (when
    Slack takes it) after the worker ran."""
    say(client, "How do I export my data to CSV?", conversation_id, email="ada@acme.io",
        name=name)
    moved = say(client, "This is useless. I want to talk to a human", conversation_id)
    assert moved["status"] == "waiting_for_human"
    worker.run_until_idle()
    return str(moved["handoff_id"])
