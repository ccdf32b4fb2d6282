"""agent/runs.py reads where a run stands from LangGraph's checkpoint: not started, waiting at
the approval node (with the draft version it waits on), cut short by a crash, finished; and
start / resume / rerun move it. A toy graph with the handoff graph's shape (a node, then a node
that pauses with `interrupt`) on an in-memory checkpointer."""

from __future__ import annotations

from typing import Any, TypedDict

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

from agent import runs
from agent.runs import RunPosition, RunStage


class _State(TypedDict, total=False):
    version: int
    answer: str


class _Crash(Exception):
    pass


def _graph(crash_once: list[bool]) -> Any:
    def draft(state: _State) -> dict[str, Any]:
        if crash_once and crash_once.pop():
            raise _Crash("the process died here")
        return {"version": state.get("version", 0) + 1}

    def approve(state: _State) -> dict[str, Any]:
        return {"answer": interrupt({"version": state["version"]})}

    builder = StateGraph(_State)
    builder.add_node("draft", draft)
    builder.add_node("approve", approve)
    builder.add_edge(START, "draft")
    builder.add_edge("draft", "approve")
    builder.add_edge("approve", END)
    return builder.compile(checkpointer=InMemorySaver())


def test_a_run_moves_from_not_started_to_waiting_to_finished() -> None:
    graph = _graph([])
    assert runs.position(graph, "t1") == RunPosition(RunStage.NOT_STARTED)
    runs.start(graph, "t1", {"version": 0}, context=None)
    at = runs.position(graph, "t1")
    assert at == RunPosition(RunStage.WAITING, 1)
    assert at.waits_on(1) and not at.waits_on(2)
    runs.resume(graph, "t1", "approved", context=None)
    assert runs.position(graph, "t1") == RunPosition(RunStage.FINISHED, 1)
    assert graph.get_state({"configurable": {"thread_id": "t1"}}).values["answer"] == "approved"


def test_a_crash_between_pauses_is_cut_short_and_a_rerun_finishes_it() -> None:
    graph = _graph([True])  # the draft node dies once, then works
    with pytest.raises(_Crash):
        runs.start(graph, "t2", {"version": 0}, context=None)
    at = runs.position(graph, "t2")
    assert at.stage is RunStage.CUT_SHORT and not at.waits_on(1)
    runs.rerun(graph, "t2", context=None)
    assert runs.position(graph, "t2") == RunPosition(RunStage.WAITING, 1)


# -- the handoff graph's runs: one background thread, one node per step ----------------------

def _handoff_graph() -> Any:
    from agent.graph import build_handoff_graph

    return build_handoff_graph(InMemorySaver())


def _count_threads(monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[int | None]]:
    """(threads started, the thread pools' sizes) from now on."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    started: list[str] = []
    pool_sizes: list[int | None] = []
    start, init = threading.Thread.start, ThreadPoolExecutor.__init__

    def counted_start(self: threading.Thread) -> None:
        started.append(self.name)
        start(self)

    def counted_init(self: ThreadPoolExecutor, max_workers: int | None = None,
                     *args: Any, **kwargs: Any) -> None:
        pool_sizes.append(max_workers)
        init(self, max_workers, *args, **kwargs)

    monkeypatch.setattr(threading.Thread, "start", counted_start)
    monkeypatch.setattr(ThreadPoolExecutor, "__init__", counted_init)
    return started, pool_sizes


def test_a_handoff_run_writes_its_checkpoints_on_one_background_thread(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """LangGraph's default pool starts a thread for each write that finds none idle (two per
    run when the writes take a while, as on disk); a pool of one never starts a second."""
    from tests.agent.fakes import FakePort

    graph, port = _handoff_graph(), FakePort()
    started, pool_sizes = _count_threads(monkeypatch)
    runs.start(graph, "h1", {"handoff_id": "h1", "lead_id": "lead_1", "assignee": "U1",
                             "version": 0}, context=port)
    assert runs.position(graph, "h1") == RunPosition(RunStage.WAITING, 1)
    assert pool_sizes == [1] and len(started) == 1
    port.decide("ap_h1_v1", "approve", outbox_id="out_1")
    started.clear()
    pool_sizes.clear()
    runs.resume(graph, "h1", {"decision_id": "d-ap_h1_v1"}, context=port)
    assert ("deliver", "out_1") in port.calls and runs.position(graph, "h1").stage is RunStage.FINISHED
    assert pool_sizes == [1] and len(started) == 1


@pytest.mark.parametrize("action, payload", [
    ("approve", {"outbox_id": "out_1"}), ("reject", {"reason_code": "not_now"}),
    ("revise", {"instruction": "shorter"}), ("escalate", {"escalate_to": "U0MGR0001"})])
def test_every_step_of_a_handoff_run_is_one_node(action: str, payload: dict[str, Any]) -> None:
    """What makes one background thread enough: no step runs two nodes side by side."""
    from langgraph.types import Command

    from tests.agent.fakes import FakePort

    graph, port = _handoff_graph(), FakePort()
    config = {"configurable": {"thread_id": "h1"}}
    steps: dict[tuple[int, int], list[str]] = {}  # (invocation, step) -> the nodes it ran

    def record(events: Any) -> None:
        invocation = len({at for at, _ in steps})
        for event in events:
            if event["type"] == "task":
                steps.setdefault((invocation, event["step"]), []).append(event["payload"]["name"])

    record(graph.stream({"handoff_id": "h1", "lead_id": "lead_1", "assignee": "U1",
                         "version": 0}, config, context=port, stream_mode="debug"))
    port.decide("ap_h1_v1", action, **payload)
    record(graph.stream(Command(resume={"decision_id": "x"}), config, context=port,
                        stream_mode="debug"))
    assert len(steps) >= 5 and all(len(names) == 1 for names in steps.values()), steps
