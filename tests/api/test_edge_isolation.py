"""Isolation by route family (api/edge.py): a family at its bound answers 429 with Retry-After
and never hangs, while every other family, and /healthz, keeps being served.

Support turns are held inside the handler on an Event (the service call is replaced at the
module seam the router calls through), so "saturated" is a state, not a race."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.edge import Bound, Edge, Gate, family_of
from tests.conftest import TOKEN, hand_raise, make_settings

AUTH = {"Authorization": f"Bearer {TOKEN}"}
# Generous upper bound on any single await below: a regression fails the test, never hangs it.
STUCK_S = 60


class HeldTurns:
    """Stands in for `service.conversations.post_message`: each call waits for `release`."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.inside = 0
        self._changed = threading.Condition()

    def __call__(self, rt: Any, conversation_id: str, message: Any,
                 request_key: str | None = None) -> dict[str, Any]:
        with self._changed:
            self.inside += 1
            self._changed.notify_all()
        self.release.wait(STUCK_S)
        return {"reply": f"answered {conversation_id}", "status": "bot", "handoff_id": None}

    async def until_inside(self, count: int) -> None:
        def wait() -> None:
            with self._changed:
                assert self._changed.wait_for(lambda: self.inside >= count, STUCK_S)

        await asyncio.to_thread(wait)


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldTurns]:
    from service import conversations

    turns = HeldTurns()
    monkeypatch.setattr(conversations, "post_message", turns)
    yield turns
    turns.release.set()


@pytest.fixture
def edge_app(tmp_path: Path, clock: Any, content_library: Any
             ) -> Iterator[Callable[..., Any]]:
    """Builds the app on a fresh runtime with these settings overrides."""
    from api.app import create_app
    from hitl.wiring import build_runtime

    runtimes: list[Any] = []

    def build(**overrides: Any) -> Any:
        folder = tmp_path / f"rt{len(runtimes)}"
        folder.mkdir()
        rt = build_runtime(make_settings(folder, **overrides), clock=clock,
                           library_override=content_library)
        rt.db.upgrade()
        runtimes.append(rt)
        return create_app(rt)

    yield build
    for rt in runtimes:
        rt.close()


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://edge",
                             headers=AUTH, timeout=STUCK_S)


def _turn(client: httpx.AsyncClient, n: int) -> Any:
    return client.post(f"/v1/conversations/c-{n}/messages", json={"text": f"question {n}"})


def _edge(app: Any) -> Edge:
    """The Edge instance in a built app's middleware stack."""
    layer = app.middleware_stack
    while not isinstance(layer, Edge):
        layer = layer.app
    return layer


async def _bounded(awaitable: Any) -> Any:
    return await asyncio.wait_for(awaitable, STUCK_S)


def test_a_saturated_family_gets_429_while_every_other_family_is_served(
        edge_app: Callable[..., Any], held: HeldTurns) -> None:
    app = edge_app(http_support_concurrency=2, http_queue_wait_s=0)

    async def scenario() -> None:
        async with _client(app) as client:
            turns = [asyncio.create_task(_turn(client, n)) for n in range(2)]
            await held.until_inside(2)

            refused = await _bounded(_turn(client, 3))
            assert refused.status_code == 429
            assert int(refused.headers["Retry-After"]) >= 1
            assert refused.json() == {"family": "support", "detail":
                                      "too many support requests in progress; retry in 1 s"}

            # Every other family, while support is at its bound:
            assert (await _bounded(client.get("/healthz"))).status_code == 200
            accepted = await _bounded(client.post("/v1/events", json={"events": hand_raise()}))
            assert accepted.status_code == 202
            lead_id = accepted.json()["leads"][0]["lead_id"]
            assert (await _bounded(client.get(f"/v1/leads/{lead_id}"))).status_code == 200
            assert (await _bounded(client.post("/v1/approvals/ap_none/decision", json={
                "action": "approve", "actor": "U0REP0001"}))).status_code == 404
            metrics = await _bounded(client.get("/metrics"))
            assert metrics.status_code == 200  # ops, and it counts the refusal for operators
            assert 'hitl_http_refused_total{family="support",status="429"} 1.0' in metrics.text
            assert held.inside == 2  # nothing else reached the support handler

            held.release.set()
            for answered in await _bounded(asyncio.gather(*turns)):
                assert answered.status_code == 200
            # The bound is released with the turns: support is served again.
            assert (await _bounded(_turn(client, 4))).status_code == 200

    asyncio.run(scenario())


def test_a_waiting_turn_takes_the_freed_slot_and_a_full_queue_is_refused(
        edge_app: Callable[..., Any], held: HeldTurns) -> None:
    app = edge_app(http_support_concurrency=1, http_queue_wait_s=STUCK_S)

    async def scenario() -> None:
        async with _client(app) as client:
            first = asyncio.create_task(_turn(client, 1))
            await held.until_inside(1)
            gate = _edge(app).gates["support"]
            waiting = [asyncio.create_task(_turn(client, n)) for n in (2, 3, 4)]
            while len(gate._waiting) < 3:  # noqa: ASYNC110  (the queue is the state under test)
                await asyncio.sleep(0)
            # One running, three waiting (the queue holds three times as many as may run): the
            # fifth is refused at once rather than left hanging.
            fifth = await _bounded(_turn(client, 5))
            assert fifth.status_code == 429 and fifth.headers["Retry-After"] == str(STUCK_S)
            assert held.inside == 1

            held.release.set()
            done = await _bounded(asyncio.gather(first, *waiting))
            assert [r.status_code for r in done] == [200, 200, 200, 200]
            assert held.inside == 4 and gate.active == 0 and not gate._waiting

    asyncio.run(scenario())


def test_an_admitted_request_always_finds_a_thread(edge_app: Callable[..., Any],
                                                    held: HeldTurns) -> None:
    # More support turns than AnyIO's default 40 threads, all held in their handlers: a read
    # (a sync route) still gets a thread, because the pool is sized to the sum of the bounds.
    import anyio.to_thread

    app = edge_app(http_support_concurrency=45, http_queue_wait_s=0)

    async def scenario() -> None:
        default = anyio.to_thread.current_default_thread_limiter().total_tokens
        async with _client(app) as client:
            turns = [asyncio.create_task(_turn(client, n)) for n in range(45)]
            await held.until_inside(45)
            assert held.inside > default
            read = await _bounded(client.get("/v1/leads/ld_missing"))
            assert read.status_code == 404
            held.release.set()
            assert {r.status_code for r in await _bounded(asyncio.gather(*turns))} == {200}

    asyncio.run(scenario())


def test_healthz_answers_with_no_thread_free(edge_app: Callable[..., Any],
                                             held: HeldTurns) -> None:
    import anyio.to_thread

    app = edge_app(http_support_concurrency=4, http_queue_wait_s=0)

    async def scenario() -> None:
        async with _client(app) as client:
            turn = asyncio.create_task(_turn(client, 1))
            await held.until_inside(1)
            # The one held turn now holds the whole pool: any sync route would wait for it.
            anyio.to_thread.current_default_thread_limiter().total_tokens = 1
            health = await _bounded(client.get("/healthz", headers={"Authorization": ""}))
            assert health.status_code == 200 and health.json()["status"] == "ok"
            held.release.set()
            assert (await _bounded(turn)).status_code == 200

    asyncio.run(scenario())


def test_the_bounds_come_from_the_settings(tmp_path: Path) -> None:
    from api.edge import bounds_from

    settings = make_settings(tmp_path, http_support_concurrency=3, http_ingest_concurrency=5,
                             http_queue_wait_s=4)
    bounds = bounds_from(settings)
    assert bounds["support"] == Bound(3, 9, 4) and bounds["ingest"] == Bound(5, 15, 4)
    assert bounds["slack"].wait_s == 1.0  # Slack's 3 s ack budget: a quick 429 instead


@pytest.mark.parametrize(("method", "path", "family"), [
    ("POST", "/v1/conversations/c-1/messages", "support"),
    ("GET", "/v1/conversations/c-1", "reads"),
    ("POST", "/v1/events", "ingest"),
    ("POST", "/hooks/hubspot", "ingest"),
    ("POST", "/slack/events", "slack"),
    ("GET", "/v1/approvals", "reads"),
    ("POST", "/v1/approvals/ap_1/decision", "actions"),
    ("DELETE", "/v1/leads/ld_1", "actions"),
    ("POST", "/v1/conversations/c-1/rating", "actions"),
    ("GET", "/metrics", "ops"),
    ("GET", "/docs", "ops"),
    ("GET", "/healthz", None),
    ("GET", "/readyz", None),
])
def test_route_families(method: str, path: str, family: str | None) -> None:
    assert family_of(method, path) == family


# -- the gate itself ---------------------------------------------------------------------------

def test_the_gate_hands_slots_over_in_order_and_forgets_those_who_left() -> None:
    async def scenario() -> None:
        gate = Gate("reads", Bound(limit=1, queue=3, wait_s=STUCK_S))
        assert await gate.enter()
        waiters = [asyncio.create_task(gate.enter()) for _ in range(3)]
        while len(gate._waiting) < 3:  # noqa: ASYNC110
            await asyncio.sleep(0)
        assert not await gate.enter()  # queue full: refused, not queued
        waiters[0].cancel()  # a client that went away while waiting
        with pytest.raises(asyncio.CancelledError):
            await waiters[0]
        assert len(gate._waiting) == 2
        gate.leave()  # the slot goes to the next live waiter, in order
        assert await _bounded(waiters[1]) is True and not waiters[2].done()
        gate.leave()
        assert await _bounded(waiters[2]) is True
        gate.leave()
        assert gate.active == 0 and not gate._waiting

    asyncio.run(scenario())


def test_a_wait_that_runs_out_is_refused_and_leaves_the_queue() -> None:
    async def scenario() -> None:
        gate = Gate("support", Bound(limit=1, queue=1, wait_s=0.01))
        assert await gate.enter()
        assert await _bounded(gate.enter()) is False  # nobody left: the wait ran out
        assert not gate._waiting and gate.active == 1
        gate.leave()
        assert gate.active == 0

    asyncio.run(scenario())
