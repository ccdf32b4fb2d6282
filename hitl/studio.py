"""The product's graphs for `langgraph dev` (LangGraph Studio, Agent Chat UI): see langgraph.json.

Each factory builds the runtime from settings (the environment and `.env`, as `hitl serve`
does), once per process, and returns the compiled graph without a checkpointer: the LangGraph
server supplies its own (it copies the graph with it for every run). Studio runs on its own
checkpoints, not the product's, and works on the product's store.

A run's context cannot carry a port (it is JSON), so these graphs build the port themselves:
- `handoff`: input `{"handoff_id": "ho_..."}` (lead, assignee and version are read from the
  store); it pauses at the approval with the HITLRequest; resume it with
  `{"decisions": [...]}` (agent/hitl_protocol.py). With no decision recorded yet, the answer is
  recorded like any other (first wins, through `service.approvals.decide` with the service
  token, as the card's assignee or the context's `actor`); a recorded decision always wins.
- `support`: input `{"conversation_id", "message_id"}` of a stored customer message.
- `assistant`: context `{"member": "<Slack id or email>"}`, input `{"text": "..."}`.

Development only: decisions made here are real decisions in the configured database.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from langgraph.graph.state import CompiledStateGraph

from agent.hitl_protocol import ReviewerDecision
from config.settings import load_settings
from hitl.wiring import build_runtime
from service.handoffs import StoreHandoffPort

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

    from service.runtime import AppRuntime

_LOCK = threading.Lock()
_RUNTIME: list[AppRuntime] = []
_GRAPHS: dict[str, Any] = {}


def studio_runtime() -> AppRuntime:
    """The one runtime of this server process, built from settings on first use."""
    with _LOCK:
        if not _RUNTIME:
            rt = build_runtime(load_settings())
            rt.db.upgrade()
            _RUNTIME.append(rt)
        return _RUNTIME[0]


class StudioHandoffPort(StoreHandoffPort):
    """The store-backed port, which may also record the decision a Studio resume carries."""

    def __init__(self, rt: AppRuntime, actor: str | None = None) -> None:
        super().__init__(rt)
        self.actor = actor

    def record_decision(self, approval_id: str, decision: ReviewerDecision,
                        request: dict[str, Any]) -> None:
        from service import approvals
        from service.identity import SERVICE_PRINCIPAL
        from service.schemas import DecisionIn

        actor = self.actor or approvals.get_approval(self.rt, approval_id)["assignee"]
        approvals.decide(self.rt, approval_id, DecisionIn(**decision.fields(), actor=actor),
                         principal=SERVICE_PRINCIPAL)


class _StudioGraph(CompiledStateGraph):  # type: ignore[type-arg]
    """A compiled graph that completes a run's JSON input and context for the product: every
    entry (invoke, stream, the server's astream and astream_events) goes through these two."""

    prepare: ClassVar[Callable[[Any, Any], tuple[Any, Any]]]

    def stream(self, input: Any, config: Any = None, *, context: Any = None,
               **kwargs: Any) -> Any:
        input, context = type(self).prepare(input, context)
        return super().stream(input, config, context=context, **kwargs)

    async def astream(self, input: Any, config: Any = None, *, context: Any = None,
                      **kwargs: Any) -> Any:
        # The store is read off the event loop (the dev server refuses blocking calls on it).
        input, context = await asyncio.to_thread(type(self).prepare, input, context)
        async for chunk in super().astream(input, config, context=context, **kwargs):
            yield chunk


def _handoff_run(input: Any, context: Any) -> tuple[Any, Any]:
    rt = studio_runtime()
    if context is None or isinstance(context, dict):  # JSON from the server: build the port
        context = StudioHandoffPort(rt, (context or {}).get("actor"))
    if isinstance(input, dict) and input.get("handoff_id") and not input.get("lead_id"):
        from store.tables import Handoff

        with rt.db.read() as session:
            handoff = session.get(Handoff, input["handoff_id"])
            if handoff is None:
                raise ValueError(f"handoff {input['handoff_id']} not found")
            input = {"handoff_id": handoff.id, "lead_id": handoff.lead_id,
                     "assignee": handoff.assignee or "", "version": 0, **input}
    return input, context


def _support_run(input: Any, context: Any) -> tuple[Any, Any]:
    if context is None or isinstance(context, dict):
        from service.support import support
        from service.support_port import StoreSupportPort

        rt = studio_runtime()
        context = StoreSupportPort(rt, support(rt))
    return input, context


def _assistant_run(input: Any, context: Any) -> tuple[Any, Any]:
    from agent.assistant.graph import AssistantContext

    if isinstance(context, AssistantContext):
        return input, context
    from service.assistant_port import StoreAssistantPort
    from service.ids import new_id

    rt = studio_runtime()
    wanted = context.get("member") if isinstance(context, dict) else None
    member = rt.roster.find(wanted) if wanted else None
    if member is None:
        raise ValueError("set the run's context to {\"member\": \"<a roster member's Slack id "
                         "or email>\"}")
    port = StoreAssistantPort(rt, member, conversation_key="studio", reply_id=new_id("asr"))
    return input, AssistantContext(port=port, planner=rt.assistant_planner)


def _compiled(name: str) -> Any:
    with _LOCK:
        if name not in _GRAPHS:
            if name == "handoff":
                from agent.graph import build_handoff_graph as build
                prepare = _handoff_run
            elif name == "support":
                from agent.support.graph import build_conversation_graph as build
                prepare = _support_run
            else:
                from agent.assistant.graph import build_assistant_graph as build
                prepare = _assistant_run
            graph = build(None)
            graph.__class__ = type(f"Studio{name.title()}Graph", (_StudioGraph,),
                                   {"prepare": staticmethod(prepare)})
            _GRAPHS[name] = graph
        return _GRAPHS[name]


async def make_handoff_graph(config: RunnableConfig) -> Any:
    """langgraph.json `handoff`: the lead handoff graph (qualify .. approval .. send)."""
    return await asyncio.to_thread(_compiled, "handoff")


async def make_support_graph(config: RunnableConfig) -> Any:
    """langgraph.json `support`: the support conversation graph."""
    return await asyncio.to_thread(_compiled, "support")


async def make_assistant_graph(config: RunnableConfig) -> Any:
    """langgraph.json `assistant`: the rep's assistant."""
    return await asyncio.to_thread(_compiled, "assistant")
