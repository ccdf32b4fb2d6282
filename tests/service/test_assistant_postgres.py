"""The assistant on the real PostgreSQL server: its tables, the PostgreSQL checkpointer, and a
proposal asked on one replica, approved on another, executed once.

Skipped without PostgreSQL; mandatory in CI (.ci/run sets HITL_REQUIRE_POSTGRES)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from evals.assistant_seed import RILEY, SAM, seed_assistant_store
from hitl.wiring import build_runtime
from service.assistant import ask, decide_proposal
from service.errors import Conflict
from service.worker import Worker
from store.tables import Approval, Lead
from tests.conftest import make_settings

pytestmark = pytest.mark.postgres


@pytest.fixture
def replicas(tmp_path, postgres_url, clock, content_library) -> Iterator[list[Any]]:
    settings = make_settings(tmp_path, database_url=postgres_url)
    made = []
    for _ in range(2):
        rt = build_runtime(settings, clock=clock, library_override=content_library)
        rt.db.upgrade()
        made.append((rt, Worker(rt, threads=2)))
    yield made
    for rt, worker in made:
        worker.stop()
        rt.close()


def test_ask_on_one_replica_approve_on_another_executes_once(replicas) -> None:
    from langgraph.checkpoint.postgres import PostgresSaver

    (rt_a, worker_a), (rt_b, _) = replicas
    ids = seed_assistant_store(rt_a, worker_a.run_until_idle)
    assert isinstance(rt_a.checkpointer, PostgresSaver)
    riley = rt_a.roster.find(RILEY)
    reply = ask(rt_a, riley, "D1:1", "hand Globex to Sam")
    [proposal] = reply.proposals
    assert "Gil Bates (Globex)" in ask(rt_b, riley, "D1:1", "what's on my plate?").text
    done = decide_proposal(rt_b, riley, proposal.proposal_id, "approve")
    assert done.proposals[0].status == "executed"
    with pytest.raises(Conflict):
        decide_proposal(rt_a, riley, proposal.proposal_id, "approve")
    worker_a.run_until_idle()
    with rt_a.db.read() as session:
        assert session.scalar(select(Lead.owner).where(Lead.id == ids["gil"])) == SAM
        versions = session.scalars(select(Approval.version).where(
            Approval.lead_id == ids["gil"]).order_by(Approval.version)).all()
    assert versions == [1, 2]
