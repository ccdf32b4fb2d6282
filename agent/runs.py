"""Where a handoff's graph run stands, read from its checkpoint, and the three ways to move it.

The service decides *whether* to move a run (a job to start it, a recorded decision to resume
it); this module is the one place that knows how LangGraph says where a run is (`next`,
`interrupts`, the state's `version`) and how to invoke it, so no caller reads a snapshot by hand.

A run is checkpointed when it pauses or ends, not after every node (`DURABILITY`): every node is
idempotent and the store is the record of truth, so a crash mid-run simply reruns the run from
its last pause.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from langgraph.types import Command

DURABILITY = "exit"


class RunStage(StrEnum):
    NOT_STARTED = "not_started"  # no checkpoint for this thread yet
    WAITING = "waiting"          # paused at the approval node for a decision on `version`
    CUT_SHORT = "cut_short"      # a crash stopped it between pauses: rerun from the last one
    FINISHED = "finished"        # it reached the end


@dataclass(frozen=True)
class RunPosition:
    stage: RunStage
    version: int | None = None  # the draft version in the run's state (what WAITING waits on)

    def waits_on(self, version: int) -> bool:
        return self.stage is RunStage.WAITING and self.version == version


# LangGraph writes a run's checkpoint and its pending writes on a thread pool it creates for
# each invocation, one new thread per write that finds no idle one: two threads started and
# joined per run (~0.3 ms of CPU, a third of the loop's own cost). Every step of the handoff
# graph is a single node (its edges and `Command`s go to one node at a time), so one thread does
# the same writes, in the order they were submitted. A graph with parallel branches would need
# more: `tests/agent/test_runs.py` holds both the thread count and the graph's shape. So would
# another stream mode: with `stream_mode="custom"` the stream took the one thread and the run
# waited on it forever; `invoke`'s default mode is the one measured and tested.
_BACKGROUND_THREADS = 1


def _config(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}, "max_concurrency": _BACKGROUND_THREADS}


def position(graph: Any, thread_id: str) -> RunPosition:
    """Where the run of `thread_id` stands, from its latest checkpoint."""
    snapshot = graph.get_state(_config(thread_id))
    if not snapshot.values:
        return RunPosition(RunStage.NOT_STARTED)
    version = snapshot.values.get("version")
    version = int(version) if version is not None else None
    if not snapshot.next:
        return RunPosition(RunStage.FINISHED, version)
    if snapshot.interrupts:
        return RunPosition(RunStage.WAITING, version)
    return RunPosition(RunStage.CUT_SHORT, version)


def start(graph: Any, thread_id: str, values: dict[str, Any], *, context: Any) -> None:
    graph.invoke(values, _config(thread_id), context=context, durability=DURABILITY)


def resume(graph: Any, thread_id: str, response: Any, *, context: Any) -> None:
    """Wake a run paused at the approval node with `response` (a HITLResponse)."""
    graph.invoke(Command(resume=response), _config(thread_id), context=context,
                 durability=DURABILITY)


def rerun(graph: Any, thread_id: str, *, context: Any) -> None:
    """Finish a run a crash cut short, from its last checkpoint."""
    graph.invoke(None, _config(thread_id), context=context, durability=DURABILITY)
