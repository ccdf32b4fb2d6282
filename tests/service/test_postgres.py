"""The scale-out path against the real PostgreSQL server: store, checkpointer, two replicas.

Skipped on a laptop without PostgreSQL; mandatory in CI (.ci/run sets HITL_REQUIRE_POSTGRES).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from hitl.wiring import build_runtime
from service import jobs
from service.worker import Worker
from store.tables import Job, OutboxMessage
from tests.conftest import TOKEN, make_settings
from tests.flow import decide, pending_card

pytestmark = pytest.mark.postgres


@pytest.fixture
def replicas(tmp_path, postgres_url, smtp_sink, clock, content_library) -> Iterator[list[Any]]:
    """Two app replicas (runtime + worker + API client) sharing one PostgreSQL database."""
    settings = make_settings(tmp_path, database_url=postgres_url, smtp_url=smtp_sink.url)
    made = []
    for _ in range(2):
        rt = build_runtime(settings, clock=clock, library_override=content_library)
        rt.db.upgrade()
        worker = Worker(rt, threads=4)
        client = TestClient(create_app(rt), headers={"Authorization": f"Bearer {TOKEN}"})
        made.append((rt, worker, client))
    yield made
    for rt, worker, client in made:
        client.close()
        worker.stop()
        rt.close()


def test_postgres_store_and_checkpointer_run_the_whole_handoff(replicas, smtp_sink) -> None:
    from langgraph.checkpoint.postgres import PostgresSaver

    rt, worker, client = replicas[0]
    assert isinstance(rt.checkpointer, PostgresSaver)
    card = pending_card(client, worker)
    assert smtp_sink.messages == []
    # The decision lands on replica B; replica A's worker resumes the graph from PostgreSQL.
    _, _, other_client = replicas[1]
    assert decide(other_client, card["approval_id"], action="approve",
                  actor="U0REP0001").status_code == 200
    worker.run_until_idle()
    [mail] = smtp_sink.messages
    assert mail.rcpt_tos == ["ada@acme.io"]


def test_concurrent_approvals_on_two_replicas_send_once(replicas, smtp_sink) -> None:
    rt, worker, client = replicas[0]
    card = pending_card(client, worker)
    statuses: list[int] = []
    barrier = threading.Barrier(6)

    def click(c: Any) -> None:
        barrier.wait()
        statuses.append(decide(c, card["approval_id"], action="approve",
                               actor="U0REP0001").status_code)

    threads = [threading.Thread(target=click, args=(replicas[i % 2][2],)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] + [409] * 5
    # Both replicas' workers race for the resume job; SKIP LOCKED gives it to one.
    runners = [threading.Thread(target=w.run_until_idle) for _, w, _ in replicas]
    for t in runners:
        t.start()
    for t in runners:
        t.join()
    assert len(smtp_sink.messages) == 1
    with rt.db.session() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 1


def test_skip_locked_claims_each_job_once(replicas) -> None:
    from datetime import timedelta

    rt = replicas[0][0]
    now = rt.clock.now()
    with rt.db.session() as s:
        for i in range(200):
            jobs.enqueue(s, "noop", {"i": i}, now=now)
    claimed: list[int] = []
    lock = threading.Lock()

    def grab(db: Any) -> None:
        while True:
            got = jobs.claim(db, now=now, lease=timedelta(minutes=5), limit=7, kinds=("noop",))
            if not got:
                return
            with lock:
                claimed.extend(j.payload["i"] for j in got)

    threads = [threading.Thread(target=grab, args=(replicas[i % 2][0].db,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == list(range(200))
    with rt.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Job).where(Job.kind == "noop")) == 200


def test_two_replicas_fire_each_sla_timer_once(replicas, clock) -> None:
    from store.tables import AuditEntry

    rt, worker, client = replicas[0]
    pending_card(client, worker)
    for minutes in (16, 16):
        clock.advance(minutes=minutes)
        runners = [threading.Thread(target=w.run_until_idle) for _, w, _ in replicas]
        for t in runners:
            t.start()
        for t in runners:
            t.join()
    with rt.db.session() as s:
        actions = list(s.scalars(select(AuditEntry.action).where(
            AuditEntry.action.in_(["sla_reminder", "sla_escalated"]))))
    assert sorted(actions) == ["sla_escalated", "sla_reminder"]
    cards = client.get("/v1/approvals").json()
    assert len(cards) == 1 and cards[0]["version"] == 2
