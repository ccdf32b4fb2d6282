"""A support conversation's status changes only as `service.lifecycle.ALLOWED[ConversationStatus]`
says (issue 14): the table holds exactly the changes a real conversation makes, driven through the
service, and a change it does not allow is refused with nothing written."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from sqlalchemy import func, select, update

from service import conversations as service
from service.lifecycle import (
    ALLOWED,
    CONVERSATION_START,
    ConversationStatus,
    IllegalTransition,
    TransferStatus,
    transition,
)
from store.tables import AuditEntry, SupportConversation, SupportMessage, SupportTransfer

TABLE = ALLOWED[ConversationStatus]
SASHA = "U0SUP0001"  # support, on the default roster
QUESTION = "How do I export my data to CSV?"
ANOTHER_QUESTION = "How do I reset my password?"
WANTS_A_PERSON = "This is useless. I want to talk to a human"


def _say(rt: Any, text: str, conversation_id: str = "life-1") -> dict[str, Any]:
    message = service.CustomerMessageIn.model_validate(
        {"text": text, "customer": {"email": "ada@acme.io", "name": "Ada Park"}})
    return service.post_message(rt, conversation_id, message)


def _status(rt: Any, conversation_id: str = "life-1") -> str:
    with rt.db.read() as session:
        return str(session.scalar(select(SupportConversation.status)
                                  .where(SupportConversation.id == conversation_id)))


def _edges() -> set[tuple[ConversationStatus, ConversationStatus]]:
    return {(before, after) for before, afters in TABLE.items() for after in afters}


def test_a_real_conversation_makes_exactly_the_changes_the_table_allows(support_rt: Any) -> None:
    """Every step below goes through the service (the customer's messages, the graph, the
    person's claim, hand-back and resolve); the statuses seen after each step are the table's
    edges, all of them, and nothing else."""
    rt = support_rt
    seen: list[str] = []

    def step(expected: ConversationStatus, answer: dict[str, Any] | None = None) -> None:
        status = _status(rt)
        assert status == expected, seen
        if answer is not None:
            assert answer["status"] == expected
        seen.append(status)

    def handoff() -> str:
        answer = _say(rt, WANTS_A_PERSON)
        step(ConversationStatus.WAITING_FOR_HUMAN, answer)
        return str(answer["handoff_id"])

    first = _say(rt, QUESTION)  # created by the first message; the bot answers it
    assert first["reply"]
    step(CONVERSATION_START, first)
    handoff_id = handoff()  # a trigger fired: a warm transfer
    service.claim(rt, handoff_id, SASHA)
    step(ConversationStatus.HUMAN)
    service.hand_back(rt, handoff_id, SASHA, "answered on the phone")
    step(ConversationStatus.BOT)
    service.hand_back(rt, handoff(), SASHA)  # handed back before anyone claimed it
    step(ConversationStatus.BOT)
    service.resolve(rt, handoff(), SASHA)  # resolved by the team, unclaimed
    step(ConversationStatus.RESOLVED)
    step(ConversationStatus.BOT, _say(rt, ANOTHER_QUESTION))  # reopened; the bot answers
    step(ConversationStatus.RESOLVED, _say(rt, "Thanks, that solved it!"))  # the bot resolves
    step(ConversationStatus.BOT, _say(rt, QUESTION))
    handoff_id = handoff()
    service.claim(rt, handoff_id, SASHA)
    step(ConversationStatus.HUMAN)
    service.resolve(rt, handoff_id, SASHA)  # the owner resolves it
    step(ConversationStatus.RESOLVED)

    made = {(ConversationStatus(a), ConversationStatus(b))
            for a, b in zip(seen, seen[1:], strict=False) if a != b}
    assert made == _edges()  # no change the code makes is missing, none the table has is unused
    for before, after in made:
        assert transition(before.value, after) == after.value


@pytest.mark.parametrize(("current", "target"), [
    ("resolved", ConversationStatus.HUMAN),              # a resolved conversation is not claimed
    ("resolved", ConversationStatus.WAITING_FOR_HUMAN),  # nor handed over: it reopens first
    ("resolved", ConversationStatus.RESOLVED),
    ("bot", ConversationStatus.HUMAN),                   # no claim without a transfer
    ("bot", ConversationStatus.BOT),
    ("human", ConversationStatus.WAITING_FOR_HUMAN),     # a person's conversation is not re-queued
    ("waiting_for_human", ConversationStatus.WAITING_FOR_HUMAN),
    ("claimed", ConversationStatus.BOT),                 # a transfer's word, not a conversation's
])
def test_an_illegal_conversation_change_is_refused(current: str,
                                                   target: ConversationStatus) -> None:
    with pytest.raises(IllegalTransition):
        transition(current, target)


def test_a_claim_on_a_resolved_conversation_is_refused_and_nothing_is_written(
        support_rt: Any) -> None:
    rt = support_rt
    _say(rt, QUESTION)
    handoff_id = str(_say(rt, WANTS_A_PERSON)["handoff_id"])
    with rt.db.session() as session:  # something resolved it behind the lifecycle's back
        session.execute(update(SupportConversation).where(SupportConversation.id == "life-1")
                        .values(status=ConversationStatus.RESOLVED.value))
        messages = session.scalar(select(func.count()).select_from(SupportMessage))
        audits = session.scalar(select(func.count()).select_from(AuditEntry))

    with pytest.raises(IllegalTransition, match="resolved -> human"):
        service.claim(rt, handoff_id, SASHA)

    with rt.db.read() as session:  # the whole claim rolled back, the transfer's too
        transfer = session.get(SupportTransfer, handoff_id)
        conversation = session.get(SupportConversation, "life-1")
        assert transfer.status == TransferStatus.WAITING and transfer.owner is None
        assert transfer.claimed_at is None
        assert conversation.status == ConversationStatus.RESOLVED and conversation.owner is None
        assert session.scalar(select(func.count()).select_from(SupportMessage)) == messages
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == audits


def test_the_api_names_the_conversation_statuses_of_the_lifecycle() -> None:
    from api.routers.conversations import Status

    assert set(get_args(Status)) == {s.value for s in ConversationStatus}
