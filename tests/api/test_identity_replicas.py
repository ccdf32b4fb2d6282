"""Personal tokens across replicas: the edge's in-memory check (ActiveTokens) follows the
shared store within its reload interval, and the route's check follows it at once; and
`hitl serve --dev` without a token acts as the service token."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.identity_fixtures import bearer
from tests.conftest import TOKEN, make_settings
from tests.flow import pending_card


class Monotonic:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_the_edge_cache_follows_the_store(rt: Any) -> None:
    from agent.policy import Roster
    from service import personal_tokens
    from service.personal_tokens import ActiveTokens

    now = Monotonic()
    cache = ActiveTokens(rt, ttl_s=5.0, miss_refresh_s=1.0, now=now)
    accepts = lambda token: asyncio.run(cache.accepts(token))  # noqa: E731

    assert accepts("hitl_pt_unknown") is False and cache.loaded_at == 1000.0
    # Created elsewhere (another replica, or `hitl tokens create`) after the cache loaded:
    # refused until a miss may reload (1 s), then accepted.
    _, riley = personal_tokens.create(rt, "riley@example.com")
    assert accepts(riley) is False
    now.t += 1.0
    assert accepts(riley) is True
    # Not a personal token at all: no lookup.
    loaded = cache.loaded_at
    now.t += 10
    assert accepts("not-a-personal-token") is False and cache.loaded_at == loaded

    # Revoked elsewhere: the edge lets it through until the next reload (the route refuses it
    # at once, see test_identity.py); after the TTL the edge refuses it too.
    now.t = cache.loaded_at + 0.5  # type: ignore[operator]
    [row] = personal_tokens.list_tokens(rt)
    personal_tokens.revoke(rt, row["token_id"])
    assert accepts(riley) is True
    now.t += 5.0
    assert accepts(riley) is False

    # A member taken off the roster: their tokens leave the cache at the next reload.
    _, sam = personal_tokens.create(rt, "sam@example.com")
    now.t += 5.0
    assert accepts(sam) is True
    rt.roster = Roster(members=[m for m in rt.roster.members if m.email != "sam@example.com"])
    now.t += 5.0
    assert accepts(sam) is False


@pytest.fixture
def replicas(tmp_path, postgres_url, smtp_sink, clock, content_library) -> Iterator[list[Any]]:
    """Two app replicas (runtime + worker + API client) sharing one PostgreSQL database."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from hitl.wiring import build_runtime
    from service.worker import Worker

    settings = make_settings(tmp_path, database_url=postgres_url, smtp_url=smtp_sink.url)
    made = []
    for _ in range(2):
        rt = build_runtime(settings, clock=clock, library_override=content_library)
        rt.db.upgrade()
        made.append((rt, Worker(rt, threads=2), TestClient(create_app(rt), headers={
            "Authorization": f"Bearer {TOKEN}"})))
    yield made
    for rt, worker, client in made:
        client.close()
        worker.stop()
        rt.close()


def test_tokens_work_across_replicas_on_postgres(replicas: list[Any]) -> None:
    from service import personal_tokens

    (rt_a, worker_a, client_a), (_, _, client_b) = replicas
    card = pending_card(client_a, worker_a)
    # Replica B has checked tokens already (its edge cache is loaded), then a token is
    # created through replica A's store: B's route check sees it at once.
    assert client_b.post("/v1/approvals/ap_x/decision", json={},
                         headers=bearer("hitl_pt_x")).status_code == 401
    view, riley = personal_tokens.create(rt_a, "riley@example.com")
    assert client_b.get("/v1/approvals", headers=bearer(riley)).status_code == 200
    personal_tokens.revoke(rt_a, view["token_id"])
    assert client_b.get("/v1/approvals", headers=bearer(riley)).status_code == 401
    refused = client_b.post(f"/v1/approvals/{card['approval_id']}/decision",
                            json={"action": "approve"}, headers=bearer(riley))
    assert refused.status_code == 401
    assert client_a.get(f"/v1/approvals/{card['approval_id']}").json()["status"] == "pending"


def test_dev_mode_without_a_token_acts_as_the_service_token(worker_dev: Any) -> None:
    _, worker, client = worker_dev
    card = pending_card(client, worker)
    missing = client.post(f"/v1/approvals/{card['approval_id']}/decision",
                          json={"action": "approve"})
    assert missing.status_code == 422 and "actor is required" in missing.text
    done = client.post(f"/v1/approvals/{card['approval_id']}/decision",
                       json={"action": "approve", "actor": "riley@example.com"})
    assert done.status_code == 200, done.text
    assert done.json()["decision"]["via"] == "service_token"
    # A personal token presented in dev mode is still checked (and unknown ones refused).
    assert client.get("/v1/approvals", headers=bearer("hitl_pt_unknown")).status_code == 401


@pytest.fixture
def worker_dev(tmp_path, smtp_sink, clock, content_library) -> Iterator[tuple[Any, ...]]:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from hitl.wiring import build_runtime
    from service.worker import Worker

    settings = make_settings(tmp_path, api_token=None, smtp_url=smtp_sink.url)
    rt = build_runtime(settings, clock=clock, library_override=content_library)
    rt.db.upgrade()
    worker = Worker(rt, threads=2)
    with TestClient(create_app(rt)) as client:
        yield rt, worker, client
    worker.stop()
    rt.close()
