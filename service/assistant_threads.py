"""The assistant's checkpoint threads: how they are named, run, serialised and found for erasure.

Thread ids: `assistant:{member}:{conversation_key}` for a conversation (the member is part of
it, so nobody reads another person's thread by naming its key) and
`assistant:{member}:{conversation_key}:{proposal_id}` for each proposal's approval interrupt.
A conversation's turns take a lease on its `assistant_conversations` row (service.turn_lease,
as the support inbox does), so two asks at once take turns on the thread's history; a
proposal's execution takes one too (a row keyed by the proposal), so it never runs twice at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

from sqlalchemy import String, cast, select

from agent.assistant.state import AssistantContext
from agent.policy import Member
from service.assistant_port import StoreAssistantPort
from service.runtime import AppRuntime
from service.turn_lease import turn_lease
from store.tables import AssistantConversation, AssistantProposal
from store.tables import AssistantReply as ReplyRow

DURABILITY = "exit"  # as the handoff graph: a checkpoint when a run pauses or ends
# A turn holds its conversation for at most this long (a process that died mid-turn lets go);
# a second ask waits this long for the first before it is refused (409, the job retries it).
TURN_LEASE = timedelta(seconds=120)
TURN_WAIT_S = 30.0
BUSY = "an earlier message of this conversation is still being answered; try again in a moment"


def thread_id(member_key: str, conversation_key: str, proposal_id: str | None = None) -> str:
    thread = f"assistant:{member_key}:{conversation_key}"
    return f"{thread}:{proposal_id}" if proposal_id else thread


def thread_config(member: Member, conversation_key: str,
                  proposal_id: str | None = None) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id(member.key, conversation_key, proposal_id)}}


def run_context(rt: AppRuntime, port: StoreAssistantPort) -> AssistantContext:
    return AssistantContext(port=port, planner=rt.assistant_planner)


def conversation_turn(rt: AppRuntime, member: Member,
                      conversation_key: str) -> AbstractContextManager[None]:
    """Hold the conversation's turn (one ask at a time per conversation, across replicas)."""
    key = hashlib.sha256(thread_id(member.key, conversation_key).encode()).hexdigest()
    return turn_lease(rt, AssistantConversation, key, lease=TURN_LEASE, wait_s=TURN_WAIT_S,
                      new_row=lambda now: {"created_at": now}, busy=BUSY)


def execution_turn(rt: AppRuntime, proposal_id: str) -> AbstractContextManager[None]:
    """Hold a proposal's execution (the request's first try and its job, or two workers, never
    execute it at once; whoever comes second finds it executed)."""
    key = hashlib.sha256(f"execute:{proposal_id}".encode()).hexdigest()
    return turn_lease(rt, AssistantConversation, key, lease=TURN_LEASE, wait_s=TURN_WAIT_S,
                      new_row=lambda now: {"created_at": now},
                      busy="this proposal is being executed right now; try again in a moment")


def replies_citing(session: Any, lead_id: str) -> list[ReplyRow]:
    """The reply rows whose answers quoted this lead (`lead_ids`, JSON, as written)."""
    return list(session.scalars(select(ReplyRow).where(
        cast(ReplyRow.lead_ids, String).contains(f'"{lead_id}"', autoescape=True))))


def assistant_threads_about(session: Any, lead_id: str) -> list[str]:
    """The assistant's checkpoint threads that may quote this lead (conversations whose replies
    cited it, and its proposals' threads), for erasure to delete with the lead. Read it before
    the lead's rows go: its proposals are deleted with it."""
    threads = {thread_id(m, c) for m, c in conversations_about(session, lead_id)}
    proposals = session.execute(
        select(AssistantProposal.member_key, AssistantProposal.conversation_key,
               AssistantProposal.id).where(AssistantProposal.lead_id == lead_id)).all()
    for member_key, conversation_key, proposal_id in proposals:
        threads.add(thread_id(member_key, conversation_key, proposal_id))
    return sorted(threads)


def conversations_about(session: Any, lead_id: str) -> set[tuple[str, str]]:
    """(member_key, conversation_key) of every conversation whose answers or proposals quoted
    this lead: its history (checkpoints) and its messages in Slack go with the lead."""
    found = {(r.member_key, r.conversation_key) for r in replies_citing(session, lead_id)}
    found |= {(r.member_key, r.conversation_key) for r in session.execute(
        select(AssistantProposal.member_key, AssistantProposal.conversation_key)
        .where(AssistantProposal.lead_id == lead_id))}
    return found


def slack_places(conversations: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """(channel, thread_ts) of the Slack DM threads these conversations are (the Slack surface
    keys a conversation `{channel}:{thread_ts}`); other keys are not Slack's."""
    places = set()
    for _, key in conversations:
        channel, sep, thread_ts = key.partition(":")
        if sep and channel and thread_ts:
            places.add((channel, thread_ts))
    return places
