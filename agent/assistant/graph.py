"""The assistant graph: understand -> act -> answer for a rep's message, and review for a proposal.

Two kinds of thread run the same compiled graph:
- the conversation (thread `assistant:{conversation_key}`): each message is one run; reads are
  answered at once; proposals are recorded, not executed;
- one thread per proposal (`assistant:{conversation_key}:{proposal_id}`): `review` interrupts
  with LangChain v1's `HITLRequest` and executes the proposal only when resumed with an
  `approve` decision. A proposal has its own thread so the conversation can go on while it
  waits for the rep's click (the middleware's one-pause-per-agent would block every later ask).
"""

from __future__ import annotations

from typing import Any, Literal, cast

from langchain.agents.middleware.human_in_the_loop import (
    ActionRequest,
    HITLRequest,
    ReviewConfig,
)
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agent.assistant import answers
from agent.assistant.intents import parse
from agent.assistant.state import AssistantContext, AssistantState, ToolCall
from agent.assistant.tools import run_tool

HISTORY_TURNS = 6
ALLOWED_DECISIONS: list[Literal["approve", "reject"]] = ["approve", "reject"]


def _ctx(runtime: Runtime[Any]) -> AssistantContext:
    return cast(AssistantContext, runtime.context)


def route_start(state: AssistantState) -> Literal["understand", "review"]:
    if state.get("proposal") and not state.get("text"):
        return "review"
    if state.get("text"):
        return "understand"
    raise ValueError("an assistant run needs a message (text) or a proposal")


def understand(state: AssistantState, runtime: Runtime[Any]) -> dict[str, Any]:
    """Decide the tool calls for this message: with the model's tool calling, or the parser."""
    ctx = _ctx(runtime)
    fresh: dict[str, Any] = {"calls": [], "results": [], "answer": "", "citations": [],
                             "proposals": [], "unmatched": None}
    if ctx.planner is not None:
        plan = ctx.planner.plan(state["text"], state.get("history") or [], ctx.port)
        if plan is not None:
            return {**fresh, **plan, "source": "model"}
    today, _ = ctx.port.today()
    parsed = parse(state["text"], leads=ctx.port.visible_leads(), team=ctx.port.team(),
                   today=today, pending=state.get("pending"))
    answer = ""
    if parsed.question:
        answer = parsed.question
    elif parsed.not_found:
        answer = answers.not_found_text(parsed.not_found)
    elif parsed.unknown:
        answer = "I didn't catch what you need. " + answers.HELP
    return {**fresh, "calls": parsed.calls, "answer": answer, "pending": parsed.pending,
            "unmatched": parsed.not_found, "source": "offline"}


def act(state: AssistantState, runtime: Runtime[Any]) -> dict[str, Any]:
    """Run this message's tool calls through the port. Reads answer; proposals are recorded."""
    port = _ctx(runtime).port
    results, texts, citations, proposals = [], [], [], []
    for index, call in enumerate(state.get("calls") or []):
        outcome = run_tool(port, call, key=f"{state.get('turn', 0)}:{index}")
        results.append({"tool": call["name"], "args": call.get("args") or {},
                        "result": outcome.result, "text": outcome.text})
        texts.append(outcome.text)
        citations += outcome.citations
        if outcome.proposal is not None:
            proposals.append(outcome.proposal)
    return {"results": results, "citations": citations, "proposals": proposals,
            "answer": "\n\n".join(t for t in [state.get("answer") or "", *texts] if t)}


def respond(state: AssistantState, runtime: Runtime[Any]) -> dict[str, Any]:
    """The answer: the model's words over the tool results when it can, the offline text else."""
    ctx = _ctx(runtime)
    answer = state.get("answer") or answers.HELP
    if ctx.planner is not None and state.get("source") == "model" and state.get("results"):
        written = ctx.planner.answer(state["text"], state["results"])
        if written:
            answer = written
    history = [*(state.get("history") or []), {"role": "rep", "content": state["text"]},
               {"role": "assistant", "content": answer}][-2 * HISTORY_TURNS:]
    # The tool results (signal details, lead text) are not kept in the checkpoint past the turn.
    return {"answer": answer, "history": history, "results": []}


def hitl_request(proposal: dict[str, Any]) -> HITLRequest:
    """The proposal as LangChain v1's human-in-the-loop request (one action, approve/reject)."""
    return HITLRequest(
        action_requests=[ActionRequest(name=proposal["action"], args=dict(proposal["args"]),
                                       description=proposal["description"])],
        review_configs=[ReviewConfig(action_name=proposal["action"],
                                     allowed_decisions=list(ALLOWED_DECISIONS))],
    )


def review(state: AssistantState, runtime: Runtime[Any]) -> dict[str, Any]:
    """Wait for the rep's decision, then execute (approve) or drop (reject) the proposal.

    Everything before `interrupt()` is side-effect free: LangGraph reruns this node from its
    top when it resumes. The port executes at most once per proposal (its row records it)."""
    proposal = state["proposal"]
    response = interrupt(hitl_request(dict(proposal)))
    decisions = (response or {}).get("decisions") or []
    if len(decisions) != 1:
        raise ValueError(f"proposal {proposal['proposal_id']}: expected one decision, "
                         f"got {len(decisions)}")
    kind = decisions[0].get("type")
    port = _ctx(runtime).port
    if kind == "approve":
        return {"outcome": port.execute_proposal(proposal["proposal_id"])}
    if kind == "reject":
        return {"outcome": port.reject_proposal(proposal["proposal_id"])}
    raise ValueError(f"proposal {proposal['proposal_id']}: decision {kind!r} is not allowed")


def build_assistant_graph(checkpointer: Any) -> Any:
    """The compiled assistant graph, checkpointed (the proposals' interrupts need it)."""
    builder = StateGraph(AssistantState, context_schema=AssistantContext)
    builder.add_node("understand", understand)
    builder.add_node("act", act)
    builder.add_node("respond", respond)
    builder.add_node("review", review)
    builder.add_conditional_edges(START, route_start, ["understand", "review"])
    builder.add_edge("understand", "act")
    builder.add_edge("act", "respond")
    builder.add_edge("respond", END)
    builder.add_edge("review", END)
    return builder.compile(checkpointer=checkpointer, name="assistant")


__all__ = ["AssistantContext", "ToolCall", "build_assistant_graph", "hitl_request"]
