"""Helpers for driving the whole product the way its users do."""

from __future__ import annotations

from typing import Any

from tests.conftest import hand_raise


def ingest(client: Any, events: list[dict[str, Any]]) -> dict[str, Any]:
    response = client.post("/v1/events", json={"events": events})
    assert response.status_code == 202, response.text
    return response.json()


def pending_card(client: Any, worker: Any, events: list[dict[str, Any]] | None = None
                 ) -> dict[str, Any]:
    """Ingest a hand-raise, let the worker run, return its single pending approval."""
    ingest(client, events or hand_raise())
    worker.run_until_idle()
    cards = client.get("/v1/approvals", params={"status": "pending"}).json()
    assert len(cards) == 1, cards
    return cards[0]


def decide(client: Any, approval_id: str, **body: Any) -> Any:
    return client.post(f"/v1/approvals/{approval_id}/decision", json=body)


def run_for(clock: Any, worker: Any, minutes: int) -> None:
    """Let `minutes` pass a minute at a time, the worker running due work at each."""
    for _ in range(minutes):
        clock.advance(minutes=1)
        worker.run_until_idle()
