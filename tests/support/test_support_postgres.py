"""The support conversation on the scale-out path: PostgreSQL store and checkpointer, two
replicas answering one conversation, and a claim race across replicas.

Skipped on a laptop without PostgreSQL; mandatory in CI (.ci/run sets HITL_REQUIRE_POSTGRES)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hitl.wiring import build_runtime
from service import conversations as service
from service.conversations import CustomerMessageIn
from service.support import install_support
from tests.conftest import make_settings

pytestmark = pytest.mark.postgres


@pytest.fixture
def replicas(tmp_path: Path, postgres_url: str, clock: Any, support_kb: Any
             ) -> Iterator[list[Any]]:
    settings = make_settings(tmp_path, database_url=postgres_url)
    made = []
    for _ in range(2):
        rt = build_runtime(settings, clock=clock)
        rt.db.upgrade()
        install_support(rt, knowledge_base=support_kb)
        made.append(rt)
    yield made
    for rt in made:
        rt.close()


def _say(rt: Any, text: str, **customer: Any) -> dict[str, Any]:
    customer = customer or {"email": "ada@acme.io"}  # the conversation's owner, every message
    return service.post_message(rt, "pg-1", CustomerMessageIn.model_validate(
        {"text": text, **({"customer": customer} if customer else {})}))


def test_two_replicas_share_one_conversation_and_one_owner_wins(replicas: list[Any]) -> None:
    from langgraph.checkpoint.postgres import PostgresSaver

    a, b = replicas
    assert isinstance(a.checkpointer, PostgresSaver)
    assert "Source:" in _say(a, "How do I export my data to CSV?", email="ada@acme.io")["reply"]
    # The graph's state (the session's counters) lives in PostgreSQL: replica B continues it.
    _say(b, "That didn't help, is there another way to export our data to a spreadsheet?")
    moved = _say(a, "I still cannot figure out how to get a data export")
    assert moved["status"] == "waiting_for_human"
    assert service.get_handoff(b, moved["handoff_id"])["trigger"]["reason"] == \
        "repeated_question"

    barrier = threading.Barrier(8)
    winners: list[str] = []

    def claim(rt: Any, actor: str) -> None:
        barrier.wait()
        try:
            service.claim(rt, moved["handoff_id"], actor)
            winners.append(actor)
        except service.AlreadyClaimed:
            pass

    threads = [threading.Thread(target=claim, args=(rt, actor))
               for rt in (a, b) for actor in ("U0SUP0001", "U0MGR0001") * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    convo = service.get_conversation(b, "pg-1")
    assert convo["status"] == "human" and convo["owner"] == winners[0]
    assert _say(b, "hello?")["reply"] is None
