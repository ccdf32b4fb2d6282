"""The approval request a handoff's graph pauses with; which approval a paused graph waits on.

The request is LangChain v1's `HITLRequest` (agent/hitl_protocol.py writes it and maps the
decisions) beside this product's facts about the card; it is stored on the approval (the API's
`request`) and the graph pauses with its `HITLRequest` keys only.
"""

from __future__ import annotations

from typing import Any

from agent import hitl_protocol
from agent.models import ContextPackage, Draft
from agent.policy import REASON_CODES
from service.runtime import AppRuntime


def approval_id_for(handoff_id: str, version: int) -> str:
    """The approval a handoff's graph waits on when its state's `version` is `version`."""
    return f"ap_{handoff_id.removeprefix('ho_')}_v{version}"


def paused_on(snapshot: Any) -> list[str]:
    """The approvals a graph state snapshot waits on. A legacy (Agent-Inbox) payload names its
    approval; a HITLRequest carries only the draft, so the id comes from the state's version."""
    values = snapshot.values or {}
    found = []
    for pending in snapshot.interrupts or ():
        value = pending.value if isinstance(pending.value, dict) else {}
        if value.get("approval_id"):
            found.append(str(value["approval_id"]))
        elif "action_requests" in value and values.get("handoff_id") and values.get("version"):
            found.append(approval_id_for(values["handoff_id"], int(values["version"])))
    return found


def interrupt_request(approval_id: str, version: int, draft: Draft, context: ContextPackage,
                      rt: AppRuntime, changes: list[dict[str, Any]] | None = None,
                      escalation: dict[str, Any] | None = None) -> dict[str, Any]:
    """The approval request: LangChain v1's `HITLRequest` (`action_requests`, `review_configs`;
    the graph pauses with exactly these), beside this product's facts about it (approval id,
    version, reason codes, what changed, an escalation). How revise, escalate and a reject's
    reason code are written in that protocol: agent/hitl_protocol.py."""
    signals = "\n".join(f"- {s.detail} ({s.occurred_at:%Y-%m-%d %H:%M} UTC, `{s.event_id}`)"
                        for s in context.top_signals)
    risks = "\n".join(f"- {r.detail}" for r in context.risks) or "- none found"
    note = f"\n\n> {draft.note}" if draft.note else ""
    if changes:
        note += "\n\n#### Since the last card\n" + "\n".join(
            f"- {c['type']} at {c['occurred_at']} (`{c['event_id']}`)" for c in changes)
    elif version > 1:
        note += "\n\n#### Since the last card\n- no new signals"
    if escalation is not None:
        note += (f"\n\n#### Escalated to you\nFrom {escalation['from']} (by {escalation['by']})"
                 + (f": {escalation['note']}" if escalation.get("note") else ""))
    description = (
        f"### Why now\n{context.why_now}\n\n**Band {context.band}** · score {context.score} · "
        f"route `{context.route}`\n\n#### Top signals\n{signals}\n\n#### Risks\n{risks}\n\n"
        f"#### Recommended next step\n{context.recommended_action.next_step}{note}"
    )
    return {
        **hitl_protocol.approval_request(to=draft.to, subject=draft.subject, body=draft.body,
                                         description=description,
                                         reason_codes=list(REASON_CODES)),
        "approval_id": approval_id,
        "version": version,
        "allowed_decisions": ["approve", "edit", "revise", "escalate", "reject"],
        "reason_codes": list(REASON_CODES),
        "policy_version": rt.policy.version,
        "changes_since_last_card": changes or [],
        "escalation": escalation,
    }
