"""The handoff graph on its own, with an in-memory port: interrupt, resume, routing, safety."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from agent.graph import build_handoff_graph
from agent.routers import after_checks, after_decision, after_qualify
from agent.state import DecisionRecord
from tests.agent.fakes import FakePort, qualification


def start(port: FakePort) -> tuple[Any, dict[str, Any]]:
    graph = build_handoff_graph(InMemorySaver())
    config = {"configurable": {"thread_id": "h1"}}
    graph.invoke({"handoff_id": "h1", "lead_id": "lead_1", "assignee": "U1", "version": 0},
                 config, context=port)
    return graph, config


def resume(graph: Any, config: dict[str, Any], port: FakePort) -> dict[str, Any]:
    return graph.invoke(Command(resume={"decision_id": "x"}), config, context=port)  # type: ignore[no-any-return]


def test_pauses_at_approval_before_any_send() -> None:
    port = FakePort()
    graph, config = start(port)
    state = graph.get_state(config)
    assert state.next == ("request_approval",)
    assert state.interrupts[0].value["approval_id"] == "ap_h1_v1"
    assert not any(name == "deliver" for name, _ in port.calls)


def test_resume_without_a_recorded_decision_fails_loudly() -> None:
    port = FakePort()
    graph, config = start(port)
    with pytest.raises(RuntimeError, match="without a recorded decision"):
        resume(graph, config, port)
    assert not any(name == "deliver" for name, _ in port.calls)


@pytest.mark.parametrize("action", ["approve", "edit"])
def test_approve_and_edit_send_once(action: str) -> None:
    port = FakePort()
    graph, config = start(port)
    port.decide("ap_h1_v1", action, outbox_id="out_1")
    resume(graph, config, port)
    assert [c for c in port.calls if c[0] == "deliver"] == [("deliver", "out_1")]
    assert port.calls[-1] == ("close", ("sent", None, None))
    assert graph.get_state(config).next == ()


def test_reject_closes_with_the_reason_code_and_sends_nothing() -> None:
    port = FakePort()
    graph, config = start(port)
    port.decide("ap_h1_v1", "reject", reason_code="not_now")
    resume(graph, config, port)
    assert port.calls[-1] == ("close", ("rejected", "not_now", None))
    assert not any(name == "deliver" for name, _ in port.calls)


def test_revise_redrafts_with_the_instruction_and_asks_again() -> None:
    port = FakePort()
    graph, config = start(port)
    port.decide("ap_h1_v1", "revise", instruction="shorter, mention the webinar")
    resume(graph, config, port)
    assert ("draft", "shorter, mention the webinar") in port.calls
    state = graph.get_state(config)
    assert state.interrupts[0].value["approval_id"] == "ap_h1_v2"
    assert state.values["draft"]["subject"] == "v2"


def test_escalate_asks_the_new_assignee() -> None:
    port = FakePort()
    graph, config = start(port)
    port.decide("ap_h1_v1", "escalate", escalate_to="U0MGR0001")
    resume(graph, config, port)
    state = graph.get_state(config)
    assert state.interrupts[0].value == {"approval_id": "ap_h1_v2", "assignee": "U0MGR0001"}
    assert port.drafts == 1  # the same draft, a new owner


def test_guardrail_block_closes_without_sending() -> None:
    port = FakePort(blocks=["the lead unsubscribed"])
    graph, config = start(port)
    port.decide("ap_h1_v1", "approve", outbox_id="out_1")
    resume(graph, config, port)
    assert port.calls[-1] == ("close", ("blocked", None, "the lead unsubscribed"))
    assert not any(name == "deliver" for name, _ in port.calls)


def test_nurture_route_ends_without_a_draft() -> None:
    port = FakePort(route="nurture")
    graph, config = start(port)
    assert port.drafts == 0
    assert port.calls[-1] == ("close", ("not_qualified", None, None))
    assert graph.get_state(config).next == ()


def test_routers_are_total_and_fail_loudly() -> None:
    assert after_qualify(None) == "close"
    assert after_qualify(qualification("band_a")) == "package_context"
    assert after_checks([]) == "send" and after_checks(["x"]) == "close"
    approve = DecisionRecord("d", "a", "approve", "U1", {}, outbox_id=None)
    with pytest.raises(ValueError, match="without an outbox row"):
        after_decision(approve)
    weird = DecisionRecord("d", "a", "ignore", "U1", {})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unexpected decision action"):
        after_decision(weird)
