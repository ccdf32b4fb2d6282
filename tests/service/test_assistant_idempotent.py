"""`ask` with an idempotency key (`message_key`): a surface that retries a message it already
asked about (its job crashed before showing the answer) gets the first reply back, unchanged,
and the graph does not run again: one reply row, no duplicate proposals."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from service.assistant import ask
from service.errors import InvalidInput
from store.tables import AssistantProposal, AssistantReply


class CountingGraph:
    """The real assistant graph, counting the conversation runs (not the proposals' threads)."""

    def __init__(self, graph: Any) -> None:
        self._graph = graph
        self.asks: list[str] = []

    def invoke(self, value: Any, config: Any, **kwargs: Any) -> Any:
        if isinstance(value, dict) and "text" in value:
            self.asks.append(value["text"])
        return self._graph.invoke(value, config, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._graph, name)


@pytest.fixture
def graph(rt: Any, monkeypatch: pytest.MonkeyPatch) -> CountingGraph:
    counting = CountingGraph(rt.assistant_graph)
    monkeypatch.setattr(rt, "assistant_graph", counting)
    return counting


def _count(rt: Any, table: Any) -> int:
    with rt.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def test_the_same_key_returns_the_first_reply_and_runs_the_graph_once(  # type: ignore[no-untyped-def]
        rt, seeded, riley, graph) -> None:
    first = ask(rt, riley, "D1:1", "snooze Initech until Monday", message_key="D1:1.0001")
    assert first.proposals and first.citations and graph.asks == ["snooze Initech until Monday"]
    again = ask(rt, riley, "D1:1", "snooze Initech until Monday", message_key="D1:1.0001")
    assert again == first  # same reply_id, text, citations, proposal ids, mentions
    assert graph.asks == ["snooze Initech until Monday"]  # not run again
    assert _count(rt, AssistantReply) == 1 and _count(rt, AssistantProposal) == 1
    with rt.db.read() as session:
        row = session.get(AssistantReply, first.reply_id)
        assert row is not None and row.message_key == "D1:1.0001"


def test_the_key_finds_its_own_answer_after_later_messages(  # type: ignore[no-untyped-def]
        rt, seeded, riley, graph) -> None:
    first = ask(rt, riley, "D1:1", "why is Acme hot?", message_key="D1:1.0001")
    later = ask(rt, riley, "D1:1", "what's on my plate?", message_key="D1:1.0002")
    assert later.text != first.text
    assert ask(rt, riley, "D1:1", "why is Acme hot?", message_key="D1:1.0001") == first
    assert len(graph.asks) == 2 and _count(rt, AssistantReply) == 2


def test_other_keys_and_other_members_are_answered_anew(  # type: ignore[no-untyped-def]
        rt, seeded, riley, sam, graph) -> None:
    ask(rt, riley, "D1:1", "what's on my plate?", message_key="D1:1.0001")
    ask(rt, riley, "D1:1", "what's on my plate?", message_key="D1:1.0002")
    ask(rt, riley, "D1:1", "what's on my plate?")  # no key: every ask is answered
    theirs = ask(rt, sam, "D1:1", "what's on my plate?", message_key="D1:1.0001")
    assert "Umbrella" in theirs.text  # Sam's own queue, not Riley's stored answer
    assert len(graph.asks) == 4 and _count(rt, AssistantReply) == 4


def test_an_oversized_key_is_refused_naming_the_field(rt, seeded, riley) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as refused:
        ask(rt, riley, "D1:1", "what's on my plate?", message_key="k" * 151)
    assert refused.value.field == "message_key"


@pytest.mark.postgres
def test_the_key_holds_on_postgresql_across_replicas(  # type: ignore[no-untyped-def]
        tmp_path, postgres_url, clock, content_library) -> None:
    """The PostgreSQL checkpointer finds the first run by its metadata; the unique index is
    there. Skipped without PostgreSQL; mandatory in CI (.ci/run)."""
    from evals.assistant_seed import RILEY, seed_assistant_store
    from hitl.wiring import build_runtime
    from service.worker import Worker
    from tests.conftest import make_settings

    settings = make_settings(tmp_path, database_url=postgres_url)
    made = [build_runtime(settings, clock=clock, library_override=content_library)
            for _ in range(2)]
    made[0].db.upgrade()
    worker = Worker(made[0], threads=2)
    try:
        seed_assistant_store(made[0], worker.run_until_idle)
        riley = made[0].roster.find(RILEY)
        first = ask(made[0], riley, "D1:1", "snooze Initech until Monday", message_key="D1:9")
        graph = CountingGraph(made[1].assistant_graph)
        made[1].__dict__["assistant_graph"] = graph
        again = ask(made[1], riley, "D1:1", "snooze Initech until Monday", message_key="D1:9")
        assert again == first and first.proposals and graph.asks == []
        assert _count(made[0], AssistantReply) == 1 and _count(made[0], AssistantProposal) == 1
    finally:
        worker.stop()
        for rt in made:
            rt.close()
