"""Running the assistant graph for `service.assistant`: asks, proposal decisions, feedback.

Thread ids: `assistant:{member}:{conversation_key}` for the conversation (the member is part of
it, so nobody reads another person's thread by naming its key) and
`assistant:{member}:{conversation_key}:{proposal_id}` for each proposal's approval interrupt.
The decision is recorded in `assistant_proposals` first (one row wins; NOTES.md: a resume may be
applied twice from an older checkpoint), and the graph is resumed from that record.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from langgraph.types import Command
from sqlalchemy import String, cast, func, select, update

from agent.assistant.graph import AssistantContext
from agent.policy import Member
from service.assistant_models import MAX_ASK_CHARS, AssistantReply, Citation, Proposal
from service.assistant_port import StoreAssistantPort, member_keys
from service.audit import audit
from service.errors import Conflict, Forbidden, InvalidInput, NotFound
from service.ids import new_id
from service.runtime import AppRuntime
from store.tables import AssistantProposal
from store.tables import AssistantReply as ReplyRow

MAX_KEY = 150
DURABILITY = "exit"  # as the handoff graph: a checkpoint when a run pauses or ends


def _thread(member: Member, conversation_key: str, proposal_id: str | None = None) -> dict:
    thread = f"assistant:{member.key}:{conversation_key}"
    if proposal_id:
        thread += f":{proposal_id}"
    return {"configurable": {"thread_id": thread}}


def _check_member(rt: AppRuntime, member: Member) -> Member:
    listed = rt.roster.find(member.key)
    if listed is None:
        raise Forbidden("only members of the team roster can use the assistant")
    return listed


def _context(rt: AppRuntime, port: StoreAssistantPort) -> AssistantContext:
    return AssistantContext(port=port, planner=rt.assistant_planner)


def run_ask(rt: AppRuntime, member: Member, conversation_key: str, text: str) -> AssistantReply:
    member = _check_member(rt, member)
    text = (text or "").strip()
    if not text:
        raise InvalidInput("text is empty: ask something", field="text")
    if len(text) > MAX_ASK_CHARS:
        raise InvalidInput(f"text is longer than {MAX_ASK_CHARS} characters", field="text")
    if not conversation_key or len(conversation_key) > MAX_KEY:
        raise InvalidInput(f"conversation_key must be 1 to {MAX_KEY} characters",
                           field="conversation_key")
    reply_id = new_id("asr")
    port = StoreAssistantPort(rt, member, conversation_key=conversation_key, reply_id=reply_id)
    context = _context(rt, port)
    config = _thread(member, conversation_key)
    turn = int((rt.assistant_graph.get_state(config).values or {}).get("turn") or 0) + 1
    state = rt.assistant_graph.invoke({"text": text, "turn": turn}, config, context=context,
                                      durability=DURABILITY)
    proposals = []
    for proposal in state.get("proposals") or []:
        # Each proposal waits in its own thread, at its HITLRequest interrupt.
        rt.assistant_graph.invoke({"proposal": proposal},
                                  _thread(member, conversation_key, proposal["proposal_id"]),
                                  context=context, durability=DURABILITY)
        proposals.append(Proposal(proposal_id=proposal["proposal_id"], action=proposal["action"],
                                  args=proposal["args"], description=proposal["description"]))
    citations = _citations(state.get("citations") or [])
    tools = [call["name"] for call in state.get("calls") or []]
    _store_reply(rt, reply_id, conversation_key, member, tools,
                 [c.lead_id for c in citations], state.get("source") or "offline")
    return AssistantReply(reply_id=reply_id, conversation_key=conversation_key,
                          text=state.get("answer") or "", citations=citations,
                          proposals=proposals, tools_used=tools)


def _citations(raw: list[dict[str, Any]]) -> list[Citation]:
    seen: dict[str, Citation] = {}
    for item in raw:
        if item["lead_id"] not in seen:
            seen[item["lead_id"]] = Citation(**item)
    return list(seen.values())


def _store_reply(rt: AppRuntime, reply_id: str, conversation_key: str, member: Member,
                 tools: list[str], lead_ids: list[str], source: str) -> None:
    with rt.db.session() as session:
        session.add(ReplyRow(id=reply_id, conversation_key=conversation_key,
                             member_key=member.key, tools_used=tools, lead_ids=lead_ids,
                             source=source, created_at=rt.clock.now()))


def run_decision(rt: AppRuntime, member: Member, proposal_id: str, decision: str,
                 note: str | None) -> AssistantReply:
    member = _check_member(rt, member)
    if decision not in ("approve", "reject"):
        raise InvalidInput("decision must be approve or reject", field="decision")
    if note is not None and len(note) > 2_000:
        raise InvalidInput("note is longer than 2000 characters", field="note")
    now = rt.clock.now()
    status = "approved" if decision == "approve" else "rejected"
    with rt.db.session() as session:
        row = session.get(AssistantProposal, proposal_id)
        if row is None or row.member_key not in member_keys(member):
            raise NotFound(f"proposal {proposal_id} not found")
        won: Any = session.execute(  # a CursorResult: DML has a rowcount
            update(AssistantProposal)
            .where(AssistantProposal.id == proposal_id, AssistantProposal.status == "pending")
            .values(status=status, decided_at=now, note=note))
        if won.rowcount != 1:
            session.refresh(row)
            raise Conflict(f"proposal {proposal_id} was already decided ({row.status})")
        audit(session, rt, actor=member.key, action=f"assistant_proposal_{status}",
              lead_id=row.lead_id, subject_id=proposal_id, proposal_action=row.action)
        conversation_key, action = row.conversation_key, row.action
        args, description = dict(row.args), row.description
    port = StoreAssistantPort(rt, member, conversation_key=conversation_key)
    config = _thread(member, conversation_key, proposal_id)
    resume: dict[str, Any] = {"type": decision}
    if decision == "reject" and note:
        resume["message"] = note
    graph = rt.assistant_graph
    if graph.get_state(config).interrupts:
        state = graph.invoke(Command(resume={"decisions": [resume]}), config,
                             context=_context(rt, port), durability=DURABILITY)
        outcome = state.get("outcome") or ""
    else:
        # The graph moved past the interrupt before (a crash after resuming): the record rules.
        outcome = port.execute_proposal(proposal_id) if decision == "approve" else \
            port.reject_proposal(proposal_id)
    with rt.db.read() as session:
        final = session.get(AssistantProposal, proposal_id)
        final_status = final.status if final is not None else status
    reply_id = new_id("asr")
    _store_reply(rt, reply_id, conversation_key, member, [f"decide_{action}"],
                 [row.lead_id] if row.lead_id else [], "offline")
    return AssistantReply(
        reply_id=reply_id, conversation_key=conversation_key, text=outcome,
        proposals=[Proposal(proposal_id=proposal_id, action=action,  # type: ignore[arg-type]
                            args=args, description=description, allowed_decisions=[],
                            status=final_status)],  # type: ignore[arg-type]
        tools_used=[f"decide_{action}"])


def store_feedback(rt: AppRuntime, member: Member, reply_id: str, helpful: bool) -> None:
    member = _check_member(rt, member)
    with rt.db.session() as session:
        won: Any = session.execute(
            update(ReplyRow).where(ReplyRow.id == reply_id,
                                   ReplyRow.member_key.in_(member_keys(member)))
            .values(helpful=bool(helpful), feedback_at=rt.clock.now()))
        if won.rowcount != 1:
            raise NotFound(f"reply {reply_id} not found")


def summarize_feedback(rt: AppRuntime, days: int) -> dict[str, int | float | None]:
    since = rt.clock.now() - timedelta(days=days)
    with rt.db.read() as session:
        rows = session.execute(
            select(ReplyRow.helpful, func.count()).where(ReplyRow.created_at >= since)
            .group_by(ReplyRow.helpful)).tuples().all()
    counts = {helpful: int(n) for helpful, n in rows}
    rated = counts.get(True, 0) + counts.get(False, 0)
    return {"replies": sum(counts.values()), "helpful": counts.get(True, 0),
            "not_helpful": counts.get(False, 0),
            "helpful_rate": round(counts.get(True, 0) / rated, 4) if rated else None}


def assistant_threads_about(session: Any, lead_id: str) -> list[str]:
    """The assistant's checkpoint threads that may quote this lead (conversations whose replies
    cited it, and its proposals' threads), for erasure to delete with the lead. Read it before
    the lead's rows go: its proposals are deleted with it."""
    threads: set[str] = set()
    cited = session.execute(
        select(ReplyRow.member_key, ReplyRow.conversation_key)
        .where(cast(ReplyRow.lead_ids, String).like(f'%"{lead_id}"%'))).tuples().all()
    for member_key, conversation_key in cited:
        threads.add(f"assistant:{member_key}:{conversation_key}")
    proposals = session.execute(
        select(AssistantProposal.member_key, AssistantProposal.conversation_key,
               AssistantProposal.id).where(AssistantProposal.lead_id == lead_id)).tuples().all()
    for member_key, conversation_key, proposal_id in proposals:
        threads.add(f"assistant:{member_key}:{conversation_key}")
        threads.add(f"assistant:{member_key}:{conversation_key}:{proposal_id}")
    return sorted(threads)
