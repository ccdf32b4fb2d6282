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
