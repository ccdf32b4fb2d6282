"""Running the assistant graph for `service.assistant`: asks, proposal decisions, feedback.

Threads, their turn lease and their erasure index live in service/assistant_threads.py. The
decision is recorded in `assistant_proposals` first (one row wins; NOTES.md: a resume may be
applied twice from an older checkpoint), together with the job that guarantees an approved
proposal is executed (service/assistant_execution.py), and the graph is resumed from that
record.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from langgraph.types import Command
from sqlalchemy import func, or_, select, update

from agent.policy import Member
from service.assistant_execution import execute_now, queue_execution
from service.assistant_models import MAX_ASK_CHARS, AssistantReply, Citation, Proposal
from service.assistant_port import StoreAssistantPort, member_keys
from service.assistant_threads import (
    DURABILITY,
    assistant_threads_about,
    conversation_turn,
    run_context,
    thread_config,
)
from service.audit import audit
from service.erasure_cleanup import delete_threads
from service.errors import Conflict, Forbidden, InvalidInput, NotFound
from service.ids import new_id
from service.runtime import AppRuntime
from store.tables import AssistantProposal, Lead
from store.tables import AssistantReply as ReplyRow

MAX_KEY = 150
MAX_NAMED = 50  # leads one unmatched name may stand for, at most (a common first name)
_thread = thread_config
_context = run_context

__all__ = ["assistant_threads_about", "run_ask", "run_decision", "store_feedback",
           "summarize_feedback"]


def _check_member(rt: AppRuntime, member: Member) -> Member:
    listed = rt.roster.find(member.key)
    if listed is None:
        raise Forbidden("only members of the team roster can use the assistant")
    return listed


def run_ask(rt: AppRuntime, member: Member, conversation_key: str, text: str,
            message_key: str | None = None) -> AssistantReply:
    member = _check_member(rt, member)
    text = (text or "").strip()
    if not text:
        raise InvalidInput("text is empty: ask something", field="text")
    if len(text) > MAX_ASK_CHARS:
        raise InvalidInput(f"text is longer than {MAX_ASK_CHARS} characters", field="text")
    if not conversation_key or len(conversation_key) > MAX_KEY:
        raise InvalidInput(f"conversation_key must be 1 to {MAX_KEY} characters",
                           field="conversation_key")
    if message_key is not None and not 0 < len(message_key) <= MAX_KEY:
        raise InvalidInput(f"message_key must be 1 to {MAX_KEY} characters",
                           field="message_key")
    reply_id = new_id("asr")
    port = StoreAssistantPort(rt, member, conversation_key=conversation_key, reply_id=reply_id)
    context = _context(rt, port)
    config = _thread(member, conversation_key)
    with conversation_turn(rt, member, conversation_key):  # one ask at a time per conversation
        if message_key is not None:
            earlier = _answered(rt, member, message_key)
            if earlier is not None:  # asked again (a retried job): the first answer, unchanged
                return earlier
        turn = int((rt.assistant_graph.get_state(config).values or {}).get("turn") or 0) + 1
        # The key rides in the checkpoint's metadata: the answer is found there again, so the
        # reply row keeps holding ids only (service/erasure_assistant.py).
        run = {**config, "metadata": {"message_key": message_key}} if message_key else config
        state = rt.assistant_graph.invoke({"text": text, "turn": turn}, run,
                                          context=context, durability=DURABILITY)
    for proposal in state.get("proposals") or []:
        # Each proposal waits in its own thread, at its HITLRequest interrupt.
        rt.assistant_graph.invoke({"proposal": proposal},
                                  _thread(member, conversation_key, proposal["proposal_id"]),
                                  context=context, durability=DURABILITY)
    proposals = _proposals(state)
    answer = state.get("answer") or ""
    citations = _citations(state.get("citations") or [])
    mentions = list(dict.fromkeys([*(c.lead_id for c in citations),
                                   *_mentioned(port, f"{text}\n{answer}", state),
                                   *_named_anywhere(rt, state.get("unmatched"))]))
    tools = [call["name"] for call in state.get("calls") or []]
    # Every lead the answer (or the ask) names is on the reply's row: erasing one of them finds
    # this conversation, its checkpoints and its Slack messages (service/erasure_assistant.py).
    gone = _store_reply(rt, reply_id, conversation_key, member, tools, mentions,
                        state.get("source") or "offline", message_key)
    _forget_if_erased(rt, member, conversation_key, gone,
                      [p.proposal_id for p in proposals])
    return AssistantReply(reply_id=reply_id, conversation_key=conversation_key,
                          text=answer, citations=citations, proposals=proposals,
                          tools_used=tools, mentions=mentions)


def _proposals(state: dict[str, Any]) -> list[Proposal]:
    return [Proposal(proposal_id=p["proposal_id"], action=p["action"], args=p["args"],
                     description=p["description"]) for p in state.get("proposals") or []]


def _answered(rt: AppRuntime, member: Member, message_key: str) -> AssistantReply | None:
    """The reply already given to `member` for `message_key`, as it was first returned: its
    text, citations and proposals from the checkpoint of the run that answered it."""
    with rt.db.read() as session:
        row = session.scalars(select(ReplyRow).where(
            ReplyRow.member_key.in_(member_keys(member)),
            ReplyRow.message_key == message_key).limit(1)).first()
        if row is None:
            return None
        session.expunge(row)
    found = next(iter(rt.assistant_graph.get_state_history(
        _thread(member, row.conversation_key), filter={"message_key": message_key}, limit=1)),
        None)
    state: dict[str, Any] = dict(found.values or {}) if found is not None else {}
    # No checkpoint: the conversation was erased since (service/erasure_assistant.py).
    return AssistantReply(
        reply_id=row.id, conversation_key=row.conversation_key,
        text=state.get("answer") or "This answer is no longer available.",
        citations=_citations(state.get("citations") or []), proposals=_proposals(state),
        tools_used=list(row.tools_used or []), mentions=list(row.lead_ids or []))


def _mentioned(port: StoreAssistantPort, words: str, state: dict[str, Any]) -> list[str]:
    """Leads the member may see that the exchange names without citing them (a "which one?"
    question's candidates, a name in the rep's words)."""
    pending = state.get("pending") or {}
    waiting = set(pending.get("candidates") or []) if isinstance(pending, dict) else set()
    lowered = words.lower()
    return [lead.lead_id for lead in port.visible_leads()
            if lead.lead_id in waiting or (len(lead.name) >= 3 and lead.name.lower() in lowered)]


def _named_anywhere(rt: AppRuntime, name: str | None) -> list[str]:
    """Leads of anyone's that a name the rep wrote, matching none they may see, could mean:
    the conversation now holds that name, so erasing such a lead must find it. Ids only, on
    the reply row and for the surface's message log; never shown to the rep."""
    words = " ".join((name or "").lower().split())[:200]
    if len(words) < 3:
        return []
    full = func.lower(func.coalesce(Lead.first_name, "") + " " + func.coalesce(Lead.last_name, ""))
    with rt.db.read() as session:
        return list(session.scalars(select(Lead.id).where(
            Lead.erased_at.is_(None),
            or_(full == words, func.lower(Lead.first_name) == words,
                func.lower(Lead.last_name) == words, func.lower(Lead.company) == words,
                func.lower(Lead.email) == words)).limit(MAX_NAMED)))


def _citations(raw: list[dict[str, Any]]) -> list[Citation]:
    seen: dict[str, Citation] = {}
    for item in raw:
        if item["lead_id"] not in seen:
            seen[item["lead_id"]] = Citation(**item)
    return list(seen.values())


def _store_reply(rt: AppRuntime, reply_id: str, conversation_key: str, member: Member,
                 tools: list[str], lead_ids: list[str], source: str,
                 message_key: str | None = None) -> list[str]:
    """The reply's row, citing the leads that still exist; returns those erased while the
    answer was being made. Their rows are share-locked on PostgreSQL until the row is in: an
    erasure in progress is waited for, and one that starts later finds this conversation."""
    with rt.db.session() as session:
        present = select(Lead.id).where(Lead.id.in_(lead_ids))
        found = set(session.scalars(present if rt.db.is_sqlite
                                    else present.with_for_update(read=True))) if lead_ids \
            else set()
        session.add(ReplyRow(id=reply_id, conversation_key=conversation_key,
                             member_key=member.key, tools_used=tools,
                             lead_ids=[i for i in lead_ids if i in found],
                             source=source, created_at=rt.clock.now(),
                             message_key=message_key))
    return [i for i in lead_ids if i not in found]


def _forget_if_erased(rt: AppRuntime, member: Member, conversation_key: str, gone: list[str],
                      proposal_ids: list[str]) -> None:
    """A lead the run quoted was erased while it ran: the erasure could not yet find this
    conversation (it finds them through the reply rows), so its checkpoint threads go now, as
    the erasure would have taken them (its Slack post is redacted by the late-post check)."""
    if not gone:
        return
    delete_threads(rt, [thread_config(member, conversation_key, p)["configurable"]["thread_id"]
                        for p in (None, *proposal_ids)])


LEAD_MOVED = ("This lead is no longer yours (it moved to someone else after the proposal was "
              "made), so the proposal cannot run; nothing was changed.")


def run_decision(rt: AppRuntime, member: Member, proposal_id: str, decision: str,
                 note: str | None, notify: dict[str, Any] | None = None) -> AssistantReply:
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
        # Whose the lead is was checked when the proposal was made; a proposal waits for its
        # approval as long as it likes, and a manager may have handed the lead on meanwhile.
        # Checked here, not when it runs: a run retried after its action committed would find
        # the lead moved by that very action.
        if decision == "approve" and row.status == "pending" and row.lead_id and not \
                StoreAssistantPort(rt, member).still_theirs(session, row.lead_id):
            raise Conflict(LEAD_MOVED)
        won: Any = session.execute(  # a CursorResult: DML has a rowcount
            update(AssistantProposal)
            .where(AssistantProposal.id == proposal_id, AssistantProposal.status == "pending")
            .values(status=status, decided_at=now, note=note))
        if won.rowcount != 1:
            session.refresh(row)
            raise Conflict(f"proposal {proposal_id} was already decided ({row.status})")
        audit(session, rt, actor=member.key, action=f"assistant_proposal_{status}",
              lead_id=row.lead_id, subject_id=proposal_id, proposal_action=row.action)
        if decision == "approve":
            queue_execution(rt, session, row, notify)
        conversation_key, action = row.conversation_key, row.action
        args, description = dict(row.args), row.description
    if decision == "approve":
        # Executed now if it can be; else its job (queued with the decision) retries it.
        outcome = execute_now(rt, proposal_id)
    else:
        port = StoreAssistantPort(rt, member, conversation_key=conversation_key)
        config = _thread(member, conversation_key, proposal_id)
        graph = rt.assistant_graph
        resume: dict[str, Any] = {"type": decision}
        if note:
            resume["message"] = note
        if graph.get_state(config).interrupts:
            state = graph.invoke(Command(resume={"decisions": [resume]}), config,
                                 context=_context(rt, port), durability=DURABILITY)
            outcome = state.get("outcome") or port.reject_proposal(proposal_id)
        else:
            outcome = port.reject_proposal(proposal_id)
    with rt.db.read() as session:
        final = session.get(AssistantProposal, proposal_id)
        final_status = final.status if final is not None else status
    reply_id = new_id("asr")
    gone = _store_reply(rt, reply_id, conversation_key, member, [f"decide_{action}"],
                        [row.lead_id] if row.lead_id else [], "offline")
    _forget_if_erased(rt, member, conversation_key, gone, [proposal_id])
    return AssistantReply(
        reply_id=reply_id, conversation_key=conversation_key, text=outcome,
        mentions=[row.lead_id] if row.lead_id else [],
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
            .group_by(ReplyRow.helpful)).all()
    counts = {helpful: int(n) for helpful, n in rows}
    rated = counts.get(True, 0) + counts.get(False, 0)
    return {"replies": sum(counts.values()), "helpful": counts.get(True, 0),
            "not_helpful": counts.get(False, 0),
            "helpful_rate": round(counts.get(True, 0) / rated, 4) if rated else None}
