"""The handoff graph: qualify -> package context -> draft -> approval (interrupt) -> pre-send
checks -> send -> close (disposition / recycle).

Nothing is sent unless `request_approval` has been resumed with a recorded human decision: the
only edge into `presend_checks` leaves from `request_approval`.
"""

from __future__ import annotations

from typing import Any, Literal, cast

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt

from agent import hitl_protocol
from agent.models import ContextPackage, Draft, Qualification
from agent.routers import after_checks, after_decision, after_qualify
from agent.state import HandoffPort, HandoffState


def _port(runtime: Runtime[Any]) -> HandoffPort:
    """The run's context is the port (LangGraph's Runtime typing wants a concrete class)."""
    return cast(HandoffPort, runtime.context)


def qualify(state: HandoffState, runtime: Runtime[Any]
            ) -> Command[Literal["package_context", "close"]]:
    qualification = _port(runtime).qualify(state["lead_id"])
    goto = after_qualify(qualification)
    if goto == "close":
        outcome = "erased" if qualification is None else "not_qualified"
        return Command(goto="close", update={"outcome": outcome})
    assert qualification is not None
    return Command(goto=goto, update={"qualification": qualification.model_dump(mode="json")})


def package_context(state: HandoffState, runtime: Runtime[Any]) -> dict[str, Any]:
    package = _port(runtime).context_package(
        state["lead_id"], Qualification.model_validate(state["qualification"]))
    return {"context": package.model_dump(mode="json")}


def draft(state: HandoffState, runtime: Runtime[Any]) -> dict[str, Any]:
    previous = Draft.model_validate(state["draft"]) if state.get("draft") else None
    written = _port(runtime).draft(
        state["lead_id"], ContextPackage.model_validate(state["context"]),
        assignee=state["assignee"], instruction=state.get("instruction"), previous=previous,
    )
    return {"draft": written.model_dump(mode="json"), "version": state.get("version", 0) + 1,
            "instruction": None}


def request_approval(
    state: HandoffState, runtime: Runtime[Any]
) -> Command[Literal["presend_checks", "draft", "request_approval", "package_context", "close"]]:
    port = _port(runtime)
    approval_id, request = port.open_approval(
        state["handoff_id"], state["version"], assignee=state["assignee"],
        draft=Draft.model_validate(state["draft"]),
        context=ContextPackage.model_validate(state["context"]),
    )
    # The payload is LangChain v1's HITLRequest; agent/hitl_protocol.py maps our decisions.
    resume = interrupt(hitl_protocol.interrupt_value(request))
    # The resume value only wakes us; the decision itself is read from the store, where it was
    # recorded atomically (first wins), so a replayed or racing resume cannot change it.
    decision = hitl_protocol.recorded_decision(port, approval_id, request, resume)
    if decision is None:
        raise RuntimeError(f"resumed approval {approval_id} without a recorded decision")
    goto = after_decision(decision)
    update: dict[str, Any] = {"approval_id": approval_id, "decision": {
        "decision_id": decision.decision_id, "action": decision.action, "actor": decision.actor,
        **decision.payload}}
    if decision.action == "revise":
        update["instruction"] = decision.payload.get("instruction")
    elif decision.action == "escalate":
        update["assignee"] = decision.payload["escalate_to"]
        update["version"] = state["version"] + 1
    elif decision.action == "reassign":
        update["assignee"] = decision.payload["escalate_to"]
    elif decision.action == "reject":
        update["outcome"] = "rejected"
        update["reason_code"] = decision.payload.get("reason_code")
    else:
        update["outbox_id"] = decision.outbox_id
    return Command(goto=goto, update=update)


def presend_checks(state: HandoffState, runtime: Runtime[Any]
                   ) -> Command[Literal["send", "close"]]:
    outbox_id = state.get("outbox_id")
    if not outbox_id:
        raise RuntimeError("presend_checks reached without an approved outbox message")
    blocks = _port(runtime).presend_blocks(outbox_id)
    goto = after_checks(blocks)
    update: dict[str, Any] = {"blocks": blocks}
    if goto == "close":
        update["outcome"] = "blocked"
    return Command(goto=goto, update=update)


def send(state: HandoffState, runtime: Runtime[Any]) -> dict[str, Any]:
    outbox_id = state.get("outbox_id")
    if not outbox_id:
        raise RuntimeError("send reached without an approved outbox message")
    return {"outcome": _port(runtime).deliver(outbox_id)}


def close(state: HandoffState, runtime: Runtime[Any]) -> dict[str, Any]:
    detail = "; ".join(state.get("blocks") or []) or None
    _port(runtime).close(state["handoff_id"], state.get("outcome", "failed"),
                          reason_code=state.get("reason_code"), detail=detail)
    return {}


def build_handoff_graph(checkpointer: Any) -> Any:
    builder = StateGraph(HandoffState)
    builder.add_node("qualify", qualify)
    builder.add_node("package_context", package_context)
    builder.add_node("draft", draft)
    builder.add_node("request_approval", request_approval)
    builder.add_node("presend_checks", presend_checks)
    builder.add_node("send", send)
    builder.add_node("close", close)
    builder.add_edge(START, "qualify")
    builder.add_edge("package_context", "draft")
    builder.add_edge("draft", "request_approval")
    builder.add_edge("send", "close")
    builder.add_edge("close", END)
    return builder.compile(checkpointer=checkpointer)
