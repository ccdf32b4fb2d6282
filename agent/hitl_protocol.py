"""The approval interrupt in LangChain v1's human-in-the-loop protocol, mapped both ways.

The handoff graph pauses with a `HITLRequest` (the shape `HumanInTheLoopMiddleware` emits, which
Agent Chat UI and LangGraph Studio render) and is resumed with a `HITLResponse`,
`{"decisions": [...]}`, one decision per action request, in order. This module is the only place
that knows how this product's decisions are written in that protocol:

    action_requests[0]  send_email {to, subject, body}   approve | edit | reject | respond
    action_requests[1]  escalate   {escalate_to, note}   approve | edit | reject

    approve   [{"type": "approve"},                                  {"type": "reject"}]
    edit      [{"type": "edit", "edited_action": {"name": "send_email",
                 "args": {"to", "subject", "body"}}},                 {"type": "reject"}]
    revise    [{"type": "respond", "message": INSTRUCTION},          {"type": "reject"}]
    reject    [{"type": "reject", "message": "REASON_CODE[: note]"}, {"type": "reject"}]
    escalate  [{"type": "reject"}, {"type": "approve"}]  (to the manager on duty), or
              [{"type": "reject"}, {"type": "edit", "edited_action": {"name": "escalate",
                 "args": {"escalate_to": MEMBER, "note": NOTE}}}]

`respond` is LangChain's "the human answers instead of the tool running": here the answer is
the instruction the drafter rewrites with. Refusing the escalate action means "do not
escalate". The recipient (`to`) comes from the lead record and cannot be edited.

The recorded decision row in the store stays the source of truth: the graph reads it after the
resume, so a replayed or racing resume value cannot change what was decided. Approvals opened
before this protocol paused with the Agent-Inbox `HumanInterrupt` shape (`action_request`,
`config`); they resume the same way, because the resume value only wakes the node.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol

from agent.state import DecisionRecord

if TYPE_CHECKING:  # types only: importing langchain costs the graph's importers ~0.6 s
    from langchain.agents.middleware.human_in_the_loop import (
        ActionRequest,
        HITLRequest,
        HITLResponse,
        ReviewConfig,
    )
    from langchain.agents.middleware.human_in_the_loop import (
        Decision as HITLDecision,
    )

SEND_EMAIL = "send_email"
ESCALATE = "escalate"
# `HITLRequest`'s keys (tests/agent/test_hitl_protocol.py checks them against the TypedDict).
HITL_KEYS = frozenset({"action_requests", "review_configs"})
# Keys of the Agent-Inbox `HumanInterrupt` this project emitted before (deprecated).
LEGACY_KEYS = frozenset({"action_request", "config"})


class ProtocolError(ValueError):
    """A resume value that does not answer the request; `field` names the wrong part."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class ReviewerDecision:
    """A decision in this product's terms: the fields of `service.schemas.DecisionIn`."""

    action: str
    subject: str | None = None
    body: str | None = None
    instruction: str | None = None
    reason_code: str | None = None
    escalate_to: str | None = None
    note: str | None = None

    def fields(self) -> dict[str, Any]:
        """The set fields, ready for `DecisionIn(**fields, actor=...)`."""
        return {k: v for k, v in asdict(self).items() if v is not None}


def approval_request(*, to: str, subject: str, body: str, description: str,
                     reason_codes: list[str]) -> HITLRequest:
    """The interrupt payload for one draft awaiting a person's decision."""
    codes = ", ".join(f"`{code}`" for code in reason_codes)
    send: ActionRequest = {
        "name": SEND_EMAIL, "args": {"to": to, "subject": subject, "body": body},
        "description": (f"{description}\n\n---\nApprove to send as is; edit `subject`/`body` to "
                        "send your version; respond with an instruction to have it redrafted; "
                        f"reject with a reason code as the message ({codes}), optionally "
                        "followed by `: note`."),
    }
    escalate: ActionRequest = {
        "name": ESCALATE, "args": {"escalate_to": None, "note": None},
        "description": ("Hand this lead to someone else: approve for the manager on duty, or "
                        "edit `escalate_to` (a roster member's Slack id or email) and `note`. "
                        "Reject to keep it."),
    }
    configs: list[ReviewConfig] = [
        {"action_name": SEND_EMAIL, "allowed_decisions": ["approve", "edit", "reject", "respond"]},
        {"action_name": ESCALATE, "allowed_decisions": ["approve", "edit", "reject"]},
    ]
    return {"action_requests": [send, escalate], "review_configs": configs}


def is_legacy(request: dict[str, Any]) -> bool:
    """An approval opened before this protocol (Agent-Inbox `HumanInterrupt`)."""
    return set(request) >= LEGACY_KEYS and "action_requests" not in request


def interrupt_value(request: dict[str, Any]) -> dict[str, Any]:
    """What the graph pauses with: the stored request's `HITLRequest` keys only (the store keeps
    this product's extras beside them: approval id, version, reason codes, escalation). A legacy
    request is paused with as it was stored."""
    if is_legacy(request) or not set(request) >= HITL_KEYS:
        return request
    return {key: request[key] for key in HITL_KEYS}


def response_for(action: str, payload: dict[str, Any], *, to: str | None = None) -> HITLResponse:
    """A recorded decision (its action and payload, as in the store) as the resume value."""
    keep: HITLDecision = {"type": "reject"}
    if action == "approve":
        return {"decisions": [{"type": "approve"}, keep]}
    if action == "edit":
        args = {"to": to, "subject": payload.get("subject"), "body": payload.get("body")}
        return {"decisions": [{"type": "edit", "edited_action": {
            "name": SEND_EMAIL, "args": {k: v for k, v in args.items() if v is not None}}}, keep]}
    if action == "revise":
        return {"decisions": [{"type": "respond", "message": payload.get("instruction") or ""},
                              keep]}
    if action == "reject":
        message = str(payload.get("reason_code") or "")
        if payload.get("note"):
            message += f": {payload['note']}"
        return {"decisions": [{"type": "reject", "message": message}, keep]}
    if action in ("escalate", "reassign"):  # reassign: the SLA rescue's own escalation
        if not payload.get("escalate_to"):
            return {"decisions": [keep, {"type": "approve"}]}
        args = {"escalate_to": payload["escalate_to"], "note": payload.get("note")}
        return {"decisions": [keep, {"type": "edit",
                                     "edited_action": {"name": ESCALATE, "args": args}}]}
    raise ProtocolError(f"unknown decision {action!r}", field="action")


def is_response(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("decisions"), list)


def decision_from_response(response: Any, request: dict[str, Any], *,
                           reason_codes: list[str] | None = None) -> ReviewerDecision:
    """The decision a `HITLResponse` expresses for `request` (new or legacy shape).

    Raises ProtocolError naming the wrong part: a missing or extra decision, a type the action
    does not allow, an edit of another action or of the recipient, a reject without a reason
    code from `reason_codes` (the request's own list when not given)."""
    if not is_response(response):
        raise ProtocolError("expected {\"decisions\": [...]}", field="decisions")
    decisions = response["decisions"]
    names = [r["name"] for r in request.get("action_requests", [])] or [SEND_EMAIL]
    if len(decisions) not in (1, len(names)):
        raise ProtocolError(f"one decision per action request ({', '.join(names)}), in order",
                            field="decisions")
    for i, decision in enumerate(decisions):
        allowed = _allowed(request, names[i])
        if not isinstance(decision, dict) or decision.get("type") not in allowed:
            raise ProtocolError(f"must be one of {sorted(allowed)}", field=f"decisions[{i}].type")
    send = decisions[0]
    escalate = decisions[1] if len(decisions) > 1 else {"type": "reject"}
    if escalate["type"] != "reject":
        if send["type"] != "reject":
            raise ProtocolError("escalating: refuse send_email (type reject) in the same answer",
                                field="decisions[0].type")
        args = _edited_args(escalate, ESCALATE, "decisions[1]") if escalate["type"] == "edit" \
            else {}
        return ReviewerDecision("escalate", escalate_to=_text(args.get("escalate_to")),
                                note=_text(args.get("note")))
    kind = send["type"]
    if kind == "approve":
        return ReviewerDecision("approve")
    if kind == "edit":
        args = _edited_args(send, SEND_EMAIL, "decisions[0]")
        original = _send_args(request)
        if args.get("to") not in (None, original.get("to")):
            raise ProtocolError("the recipient comes from the lead record and cannot be edited",
                                field="decisions[0].edited_action.args.to")
        return ReviewerDecision("edit", subject=_text(args.get("subject")),
                                body=_text(args.get("body")))
    if kind == "respond":
        return ReviewerDecision("revise", instruction=_text(send.get("message")))
    codes = reason_codes if reason_codes is not None else list(request.get("reason_codes", []))
    code, _, note = str(send.get("message") or "").partition(":")
    if code.strip() not in codes:
        raise ProtocolError(f"start the message with a reason code ({', '.join(codes)})",
                            field="decisions[0].message")
    return ReviewerDecision("reject", reason_code=code.strip(), note=_text(note.strip()))


def _allowed(request: dict[str, Any], name: str) -> set[str]:
    if is_legacy(request):
        return {"approve", "edit", "reject", "respond"}
    for config in request.get("review_configs", []):
        if config.get("action_name") == name:
            return set(config.get("allowed_decisions", []))
    return set()


def _send_args(request: dict[str, Any]) -> dict[str, Any]:
    for action in request.get("action_requests", []):
        if action.get("name") == SEND_EMAIL:
            return dict(action.get("args") or {})
    return dict((request.get("action_request") or {}).get("args") or {})


def _edited_args(decision: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    edited = decision.get("edited_action")
    if not isinstance(edited, dict) or edited.get("name") != name \
            or not isinstance(edited.get("args"), dict):
        raise ProtocolError(f"must be {{\"name\": \"{name}\", \"args\": {{...}}}}",
                            field=f"{where}.edited_action")
    return dict(edited["args"])


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


class DecisionRecorder(Protocol):
    """A port that may record a decision it was handed in the resume value (LangGraph Studio,
    where no surface recorded one first). Production ports do not: there the decision is
    always recorded before the graph is resumed."""

    def record_decision(self, approval_id: str, decision: ReviewerDecision,
                        request: dict[str, Any]) -> None: ...


def recorded_decision(port: Any, approval_id: str, request: dict[str, Any],
                      resume: Any) -> DecisionRecord | None:
    """The store's decision for `approval_id`; when there is none and the port can record one
    (Studio), the one the resume value expresses, recorded first-wins like any other."""
    decision: DecisionRecord | None = port.decision_for(approval_id)
    if decision is None and is_response(resume) and hasattr(port, "record_decision"):
        port.record_decision(approval_id, decision_from_response(resume, request), request)
        decision = port.decision_for(approval_id)
    return decision
