"""Resuming the real handoff graph (SQLite store and checkpointer, the worker) with the HITL
protocol: every decision made through the API reaches the node as the `HITLResponse` it is,
and an approval paused with the old Agent-Inbox payload still resumes."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

import service.handoffs
from agent import hitl_protocol
from agent.hitl_protocol import ReviewerDecision
from agent.policy import REASON_CODES
from service.approval_requests import paused_on
from store.tables import OutboxMessage
from tests.flow import decide, pending_card

BODIES: dict[str, dict[str, Any]] = {
    "approve": {},
    "edit": {"subject": "Your demo, Thursday?", "body": "Hi Ada,\n\nThursday at 10?\n\nRiley"},
    "revise": {"instruction": "shorter, mention the webinar"},
    "escalate": {"escalate_to": "U0MGR0001", "note": "big account"},
    "reject": {"reason_code": "not_now", "note": "next quarter"},
}


@pytest.fixture
def resumes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[dict[str, Any], Any]]:
    """Every (stored request, resume value) the approval node was woken with."""
    seen: list[tuple[dict[str, Any], Any]] = []
    real = hitl_protocol.recorded_decision

    def spy(port: Any, approval_id: str, request: dict[str, Any], resume: Any) -> Any:
        seen.append((request, resume))
        return real(port, approval_id, request, resume)

    monkeypatch.setattr(hitl_protocol, "recorded_decision", spy)
    return seen


@pytest.mark.parametrize("action", sorted(BODIES))
def test_each_decision_reaches_the_graph_as_its_hitl_response(
        client: Any, worker: Any, rt: Any, smtp_sink: Any, resumes: list[Any],
        action: str) -> None:
    card = pending_card(client, worker)
    state = rt.graph.get_state({"configurable": {"thread_id": card["handoff_id"]}})
    [pending] = state.interrupts
    assert set(pending.value) == {"action_requests", "review_configs"}
    assert pending.value["action_requests"] == card["request"]["action_requests"]
    assert paused_on(state) == [card["approval_id"]]
    resumes.clear()  # the first run passed the node once, before any resume

    response = decide(client, card["approval_id"], action=action, actor="U0REP0001",
                      **BODIES[action])
    assert response.status_code == 200, response.text
    worker.run_until_idle()

    request, resume = resumes[0]
    assert request["approval_id"] == card["approval_id"]
    got = hitl_protocol.decision_from_response(resume, request, reason_codes=list(REASON_CODES))
    assert got == ReviewerDecision(action, **BODIES[action])
    sent = len(smtp_sink.messages)
    assert sent == (1 if action in ("approve", "edit") else 0)
    if action == "edit":
        assert smtp_sink.messages[0].subject == BODIES["edit"]["subject"]
    if action in ("revise", "escalate"):
        [v2] = client.get("/v1/approvals", params={"status": "pending"}).json()
        assert v2["version"] == 2
        assert "action_requests" in v2["request"]


def legacy_request(approval_id: str, version: int, draft: Any, context: Any, rt: Any,
                   changes: Any = None, escalation: Any = None) -> dict[str, Any]:
    """What open_approval stored and paused with before the HITL protocol (Agent Inbox)."""
    return {
        "action_request": {"action": "send_email",
                           "args": {"to": draft.to, "subject": draft.subject, "body": draft.body}},
        "config": {"allow_accept": True, "allow_edit": True, "allow_respond": True,
                   "allow_ignore": True},
        "description": f"### Why now\n{context.why_now}",
        "approval_id": approval_id, "version": version,
        "allowed_decisions": ["approve", "edit", "revise", "escalate", "reject"],
        "reason_codes": list(REASON_CODES), "policy_version": rt.policy.version,
        "changes_since_last_card": changes or [], "escalation": escalation,
    }


@pytest.mark.parametrize("action", ["approve", "revise"])
def test_an_approval_paused_with_the_old_payload_still_resumes(
        client: Any, worker: Any, rt: Any, smtp_sink: Any, monkeypatch: pytest.MonkeyPatch,
        action: str) -> None:
    with monkeypatch.context() as old_release:
        old_release.setattr(service.handoffs, "interrupt_request", legacy_request)
        card = pending_card(client, worker)
    config = {"configurable": {"thread_id": card["handoff_id"]}}
    [pending] = rt.graph.get_state(config).interrupts
    assert pending.value["action_request"]["action"] == "send_email"  # the deployed shape
    assert paused_on(rt.graph.get_state(config)) == [card["approval_id"]]

    response = decide(client, card["approval_id"], action=action, actor="U0REP0001",
                      **BODIES[action])
    assert response.status_code == 200, response.text
    worker.run_until_idle()

    if action == "approve":
        [mail] = smtp_sink.messages
        assert mail.subject == card["draft"]["subject"]
        with rt.db.read() as session:
            assert session.scalar(select(OutboxMessage.status)) == "sent"
    else:  # the next card is opened in the new shape
        [v2] = client.get("/v1/approvals", params={"status": "pending"}).json()
        assert v2["version"] == 2 and "action_requests" in v2["request"]
        [pending] = rt.graph.get_state(config).interrupts
        assert set(pending.value) == {"action_requests", "review_configs"}
