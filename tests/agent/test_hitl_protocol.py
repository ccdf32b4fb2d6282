"""The approval interrupt in LangChain v1's HITL protocol (agent/hitl_protocol.py): the payload
is a valid `HITLRequest`, every decision of ours round-trips through a `HITLResponse`, and a
real compiled graph on the SQLite checkpointer resumes from `Command(resume={"decisions": ...})`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from langchain.agents.middleware.human_in_the_loop import (
    ActionRequest,
    HITLRequest,
    HITLResponse,
    ReviewConfig,
)
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command
from pydantic import TypeAdapter

from agent import hitl_protocol
from agent.graph import build_handoff_graph
from agent.hitl_protocol import ProtocolError, ReviewerDecision
from agent.models import ContextPackage, Draft
from tests.agent.fakes import FakePort

CODES = ["not_now", "bad_fit", "competitor"]
REQUEST: dict[str, Any] = {
    **hitl_protocol.approval_request(to="ada@acme.io", subject="Demo", body="Hi Ada",
                                     description="### Why now\nAda asked for a demo.",
                                     reason_codes=CODES),
    "approval_id": "ap_h1_v1", "version": 1, "reason_codes": CODES}

# Each of our decisions, as recorded (action, payload), and what it must come back as.
DECISIONS: dict[str, tuple[dict[str, Any], ReviewerDecision]] = {
    "approve": ({"subject": "Demo", "body": "Hi Ada", "outbox_id": "out_1"},
                ReviewerDecision("approve")),
    "edit": ({"subject": "Demo, Thursday?", "body": "Hi Ada, Thursday?", "outbox_id": "out_1",
              "edited": True},
             ReviewerDecision("edit", subject="Demo, Thursday?", body="Hi Ada, Thursday?")),
    "revise": ({"instruction": "shorter, mention the webinar"},
               ReviewerDecision("revise", instruction="shorter, mention the webinar")),
    "escalate": ({"escalate_to": "U0MGR0001", "note": "big account"},
                 ReviewerDecision("escalate", escalate_to="U0MGR0001", note="big account")),
    "reject": ({"reason_code": "not_now", "note": "in Q2: budget"},
               ReviewerDecision("reject", reason_code="not_now", note="in Q2: budget")),
}


def assert_typed_dict(value: Any, kind: Any) -> None:
    """`value` has exactly the TypedDict's keys (all required ones) and validates against it."""
    # (langchain's module postpones annotations, so `__required_keys__` sees no NotRequired)
    required = {k for k, t in kind.__annotations__.items() if "NotRequired" not in str(t)}
    assert required <= set(value) <= set(kind.__annotations__), (kind.__name__, set(value))
    TypeAdapter(kind).validate_python(value, strict=True)


def test_the_payload_is_a_hitl_request_and_nothing_else() -> None:
    assert set(HITLRequest.__annotations__) == hitl_protocol.HITL_KEYS
    value = hitl_protocol.interrupt_value(REQUEST)
    assert_typed_dict(value, HITLRequest)
    for action in value["action_requests"]:
        assert_typed_dict(action, ActionRequest)
    for config in value["review_configs"]:
        assert_typed_dict(config, ReviewConfig)
    assert [a["name"] for a in value["action_requests"]] == ["send_email", "escalate"]
    assert value["action_requests"][0]["args"] == {"to": "ada@acme.io", "subject": "Demo",
                                                   "body": "Hi Ada"}
    assert [c["action_name"] for c in value["review_configs"]] == ["send_email", "escalate"]
    assert "not_now" in value["action_requests"][0]["description"]


@pytest.mark.parametrize("action", sorted(DECISIONS))
def test_every_decision_round_trips(action: str) -> None:
    payload, expected = DECISIONS[action]
    response = hitl_protocol.response_for(action, payload, to="ada@acme.io")
    assert_typed_dict(response, HITLResponse)
    assert len(response["decisions"]) == len(REQUEST["action_requests"])
    assert hitl_protocol.decision_from_response(response, REQUEST) == expected


def test_the_system_reassignment_is_written_as_an_escalation() -> None:
    response = hitl_protocol.response_for("reassign", {"escalate_to": "U0MGR0001"})
    assert hitl_protocol.decision_from_response(response, REQUEST) == \
        ReviewerDecision("escalate", escalate_to="U0MGR0001")


def test_what_a_reviewer_ui_sends_is_understood() -> None:
    """Agent Chat UI / Studio answers: approve on escalate = the manager on duty; a single
    decision answers send_email alone."""
    escalate = {"decisions": [{"type": "reject"}, {"type": "approve"}]}
    assert hitl_protocol.decision_from_response(escalate, REQUEST) == ReviewerDecision("escalate")
    assert hitl_protocol.decision_from_response({"decisions": [{"type": "approve"}]}, REQUEST) \
        == ReviewerDecision("approve")
    assert ReviewerDecision("reject", reason_code="bad_fit").fields() == {
        "action": "reject", "reason_code": "bad_fit"}


@pytest.mark.parametrize(("decisions", "field"), [
    ([], "decisions"),
    ([{"type": "approve"}, {"type": "reject"}, {"type": "reject"}], "decisions"),
    ([{"type": "ignore"}], "decisions[0].type"),
    ([{"type": "reject"}, {"type": "respond", "message": "x"}], "decisions[1].type"),
    ([{"type": "approve"}, {"type": "approve"}], "decisions[0].type"),
    ([{"type": "reject", "message": "meh"}], "decisions[0].message"),
    ([{"type": "edit", "edited_action": {"name": "escalate", "args": {}}}],
     "decisions[0].edited_action"),
    ([{"type": "edit", "edited_action": {"name": "send_email",
                                         "args": {"to": "eve@evil.example", "body": "x"}}}],
     "decisions[0].edited_action.args.to"),
])
def test_a_wrong_answer_is_refused_naming_the_part(decisions: list[Any], field: str) -> None:
    with pytest.raises(ProtocolError) as refused:
        hitl_protocol.decision_from_response({"decisions": decisions}, REQUEST)
    assert refused.value.field == field


def test_a_legacy_agent_inbox_request_is_paused_with_as_stored() -> None:
    legacy = {"action_request": {"action": "send_email", "args": {"to": "ada@acme.io"}},
              "config": {"allow_accept": True}, "description": "d", "approval_id": "ap_h1_v1",
              "reason_codes": CODES}
    assert hitl_protocol.is_legacy(legacy) and not hitl_protocol.is_legacy(REQUEST)
    assert hitl_protocol.interrupt_value(legacy) is legacy
    assert hitl_protocol.decision_from_response(
        {"decisions": [{"type": "reject", "message": "bad_fit"}]}, legacy) == \
        ReviewerDecision("reject", reason_code="bad_fit")


# -- a real compiled graph, checkpointed in SQLite -----------------------------------------------


@dataclass
class HitlPort(FakePort):
    """The in-memory port, opening real HITLRequests; `recording` = the Studio port, which may
    record the decision the resume value carries (first wins)."""

    recording: bool = False

    def open_approval(self, handoff_id: str, version: int, *, assignee: str, draft: Draft,
                      context: ContextPackage) -> tuple[str, dict[str, Any]]:
        approval_id, _ = super().open_approval(handoff_id, version, assignee=assignee,
                                               draft=draft, context=context)
        return approval_id, {**hitl_protocol.approval_request(
            to=draft.to, subject=draft.subject, body=draft.body, description=context.why_now,
            reason_codes=CODES), "approval_id": approval_id, "reason_codes": CODES}

    def __getattr__(self, name: str) -> Any:
        if name == "record_decision" and self.recording:
            return self._record
        raise AttributeError(name)

    def _record(self, approval_id: str, decision: ReviewerDecision,
                request: dict[str, Any]) -> None:
        if approval_id not in self.decisions:
            fields = decision.fields()
            self.decide(approval_id, fields.pop("action"), outbox_id="out_1", **fields)


@pytest.fixture
def sqlite_graph(tmp_path: Any) -> Iterator[Any]:
    conn = sqlite3.connect(tmp_path / "checkpoints.db", check_same_thread=False)
    yield build_handoff_graph(SqliteSaver(conn))
    conn.close()


def run_to_interrupt(graph: Any, port: HitlPort) -> dict[str, Any]:
    config = {"configurable": {"thread_id": "h1"}}
    graph.invoke({"handoff_id": "h1", "lead_id": "lead_1", "assignee": "U1", "version": 0},
                 config, context=port)
    [pending] = graph.get_state(config).interrupts
    assert_typed_dict(pending.value, HITLRequest)
    return config


def assert_followed(action: str, graph: Any, config: dict[str, Any], port: HitlPort) -> None:
    state = graph.get_state(config)
    delivered = [c for c in port.calls if c[0] == "deliver"]
    if action in ("approve", "edit"):
        assert delivered == [("deliver", "out_1")] and state.next == ()
    elif action == "reject":
        assert port.calls[-1] == ("close", ("rejected", "not_now", None)) and not delivered
    else:  # revise and escalate ask again, as version 2
        assert state.values["version"] == 2 and not delivered
        assert_typed_dict(state.interrupts[0].value, HITLRequest)
        if action == "revise":
            assert ("draft", "shorter, mention the webinar") in port.calls
        else:
            assert state.values["assignee"] == "U0MGR0001"


@pytest.mark.parametrize("action", sorted(DECISIONS))
def test_the_graph_resumes_from_the_recorded_decision(sqlite_graph: Any, action: str) -> None:
    """Production: the decision is recorded first; the resume value is its HITLResponse."""
    port = HitlPort()
    config = run_to_interrupt(sqlite_graph, port)
    payload, _ = DECISIONS[action]
    port.decide("ap_h1_v1", action, **payload)
    sqlite_graph.invoke(Command(resume=hitl_protocol.response_for(action, payload)), config,
                        context=port)
    assert_followed(action, sqlite_graph, config, port)


@pytest.mark.parametrize("action", sorted(DECISIONS))
def test_a_studio_answer_is_recorded_then_followed(sqlite_graph: Any, action: str) -> None:
    """Studio / Agent Chat UI: no surface recorded the decision; the port records the one the
    HITLResponse carries, and the graph follows the record."""
    port = HitlPort(recording=True)
    config = run_to_interrupt(sqlite_graph, port)
    payload, expected = DECISIONS[action]
    sqlite_graph.invoke(Command(resume=hitl_protocol.response_for(action, payload)), config,
                        context=port)
    recorded = port.decisions["ap_h1_v1"]
    assert ReviewerDecision(recorded.action, **{k: v for k, v in recorded.payload.items()
                                                if k != "outbox_id"}) == expected
    assert_followed(action, sqlite_graph, config, port)


def test_the_record_wins_over_a_different_resume_value(sqlite_graph: Any) -> None:
    port = HitlPort(recording=True)
    config = run_to_interrupt(sqlite_graph, port)
    port.decide("ap_h1_v1", "reject", reason_code="not_now")
    sqlite_graph.invoke(Command(resume={"decisions": [{"type": "approve"}]}), config,
                        context=port)
    assert_followed("reject", sqlite_graph, config, port)


def test_without_a_recorder_an_unrecorded_answer_is_refused(sqlite_graph: Any) -> None:
    port = HitlPort()
    config = run_to_interrupt(sqlite_graph, port)
    with pytest.raises(RuntimeError, match="without a recorded decision"):
        sqlite_graph.invoke(Command(resume={"decisions": [{"type": "approve"}]}), config,
                            context=port)
    assert not any(name == "deliver" for name, _ in port.calls)
