"""The assistant's tools: each call runs through the port (the service layer) and comes back as
a JSON result, the answer's text for it, its citations and, for a proposal, what to approve.

Reads run at once. A proposal tool only records the proposal: it is executed after the rep
approves it (graph.py `review`), never on the word of the model or the parser.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from agent.assistant import answers
from agent.assistant.state import (
    PROPOSAL_TOOLS,
    AssistantPort,
    LeadRef,
    ProposalState,
    ToolCall,
)

MAX_QUERY_CHARS = 300


@dataclass
class ToolOutcome:
    result: dict[str, Any]
    text: str
    citations: list[dict[str, Any]] = field(default_factory=list)
    proposal: ProposalState | None = None


def _cite(lead: LeadRef) -> dict[str, Any]:
    return {"lead_id": lead.lead_id, "name": lead.label[: answers.CITED_NAME_MAX], "signals": []}


def _lead(port: AssistantPort, lead_id: str) -> LeadRef | None:
    return next((lead for lead in port.visible_leads() if lead.lead_id == lead_id), None)


def run_tool(port: AssistantPort, call: ToolCall, *, key: str) -> ToolOutcome:
    """Run one call. `key` names the proposal (thread, turn, index) so a rerun reuses it."""
    name, args = call["name"], dict(call.get("args") or {})
    if name == "queue":
        queue = port.queue()
        cites = [_cite(i.lead) for i in queue.items[: answers.QUEUE_SHOWN]]
        return ToolOutcome(queue.model_dump(mode="json"), answers.queue_text(queue), cites)
    if name == "kpis":
        days = max(1, min(int(args.get("days") or 7), 90))
        view = port.kpis(days)
        return ToolOutcome(view.model_dump(mode="json"), answers.kpi_text(view))
    if name == "search_content":
        query = str(args.get("query") or "")[:MAX_QUERY_CHARS]
        hits = port.search_content(query)
        return ToolOutcome({"query": query, "hits": [h.model_dump() for h in hits]},
                           answers.content_text(query, hits))
    lead_id = str(args.get("lead_id") or "")
    lead = _lead(port, lead_id)
    if name == "why_now":
        why = port.why_now(lead_id) if lead is not None else None
        if why is None:
            return ToolOutcome({"found": False}, answers.not_found_text(lead_id))
        return ToolOutcome(why.model_dump(mode="json"), answers.why_now_text(why),
                           [answers.citation_for(why)])
    if name in PROPOSAL_TOOLS:
        if lead is None:
            return ToolOutcome({"found": False}, answers.not_found_text(lead_id))
        return _propose(port, PROPOSAL_TOOLS[name], args, lead, key)
    raise ValueError(f"unknown assistant tool {name!r}")


def _propose(port: AssistantPort, action: str, args: dict[str, Any], lead: LeadRef,
             key: str) -> ToolOutcome:
    target_name = None
    clean: dict[str, Any] = {"lead_id": lead.lead_id}
    if action == "draft_follow_up":
        clean["instruction"] = " ".join(str(args.get("instruction") or "").split())[:500]
    elif action == "reassign":
        member = next((m for m in port.team() if m.key == args.get("to")), None)
        if member is None:
            return ToolOutcome({"error": "unknown member"},
                               "I don't know who that is on the team roster.")
        clean["to"], target_name = member.key, member.name
    elif action == "snooze":
        today, tz = port.today()
        try:
            until = date.fromisoformat(str(args.get("until")))
        except ValueError:
            return ToolOutcome({"error": "bad date"}, "I couldn't read that date.")
        if until <= today:
            return ToolOutcome({"error": "past date"}, "Snooze needs a day after today.")
        clean["until"], clean["timezone"] = until.isoformat(), tz
    elif action == "set_disposition":
        if args.get("reason_code") not in answers.REASON_WORDS:
            return ToolOutcome({"error": "unknown disposition"},
                               "That is not a disposition I know.")
        clean["reason_code"] = args["reason_code"]
    description = answers.proposal_description(action, clean, lead.label, target_name)
    proposal_id = port.open_proposal(key, action, clean, description, lead.lead_id)
    proposal: ProposalState = {"proposal_id": proposal_id, "action": action, "args": clean,
                               "description": description}
    text = f"Proposed: {description} Approve or reject it below."
    return ToolOutcome({"proposal_id": proposal_id, "action": action, "args": clean}, text,
                       [_cite(lead)], proposal)
