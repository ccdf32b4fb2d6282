"""What people see of support conversations and warm transfers: the conversation as the API
shows it, and a transfer's package brought up to date (status, owner, transcript)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.support.models import TransferStatus, WarmTransfer
from agent.support.summary import suggested_reply
from service.errors import NotFound
from service.lifecycle import OWNED_BY_PEOPLE, ConversationStatus
from service.runtime import AppRuntime
from service.support_inbox import check_id, token_matches
from service.support_port import line, transcript
from store.tables import SupportConversation, SupportTransfer


def member_name(rt: AppRuntime, key: str | None) -> str | None:
    """The roster name for `key` (the key itself for someone no longer on the roster)."""
    member = rt.roster.find(key)
    return member.name if member else key


def get_conversation(rt: AppRuntime, conversation_id: str, *, token: str | None = None
                     ) -> dict[str, Any]:
    """The conversation as the API shows it. With `token` (a customer-side read) a wrong or
    missing token is the same NotFound as an unknown id: nothing says the id exists."""
    check_id(conversation_id)
    with rt.db.session() as session:
        conversation = session.get(SupportConversation, conversation_id)
        if conversation is None or (
                token is not None and not token_matches(conversation.token_hash, token)):
            raise NotFound(f"conversation {conversation_id} not found")
        messages = transcript(session, conversation_id)
        owned = conversation.status in OWNED_BY_PEOPLE
        human = conversation.status == ConversationStatus.HUMAN
        return {
            "conversation_id": conversation.id, "status": conversation.status,
            "owner": conversation.owner if human else None,
            "owner_name": member_name(rt, conversation.owner)
            if human else None,
            "handoff_id": conversation.transfer_id if owned else None,
            "customer": {"email": conversation.customer_email,
                         "name": conversation.customer_name},
            "messages": [{"role": m.role, "text": m.text, "at": m.at,
                          "author": member_name(rt, m.author) if m.role == "agent" else None}
                         for m in messages],
            "created_at": conversation.created_at, "updated_at": conversation.updated_at,
        }


def handoff_package(rt: AppRuntime, session: Session, transfer: SupportTransfer) -> WarmTransfer:
    """The package as stored at hand-over, brought up to date: status, owner, the transcript."""
    stored = dict(transfer.package or {})
    stored.update(
        status=transfer.status, owner=transfer.owner, claimed_at=transfer.claimed_at,
        escalated_at=transfer.escalated_at, escalated_to=transfer.escalated_to,
        closed_at=transfer.closed_at, closed_by=transfer.closed_by, note=transfer.note,
        transcript=[line(m).model_dump(mode="json")
                    for m in transcript(session, transfer.conversation_id)])
    package = WarmTransfer.model_validate(stored)
    if transfer.owner:
        package.suggested_reply = suggested_reply(
            transfer.trigger, package.intent, package.customer, member_name(rt, transfer.owner))
    return package


def get_handoff(rt: AppRuntime, handoff_id: str) -> dict[str, Any]:
    """A warm transfer's package as JSON; NotFound for an unknown id."""
    with rt.db.session() as session:
        transfer = session.get(SupportTransfer, handoff_id)
        if transfer is None:
            raise NotFound(f"handoff {handoff_id} not found")
        return handoff_package(rt, session, transfer).model_dump(mode="json")


def handoff_summary(rt: AppRuntime, transfer: SupportTransfer) -> dict[str, Any]:
    """One line of a support inbox: the transfer's state and the package's headline facts
    (no transcript: `get_handoff` has it)."""
    package = transfer.package or {}
    customer = package.get("customer") or {}
    trigger = package.get("trigger") or {}
    return {
        "handoff_id": transfer.id, "conversation_id": transfer.conversation_id,
        "status": transfer.status, "owner": transfer.owner,
        "owner_name": member_name(rt, transfer.owner),
        "summary": package.get("summary") or "", "intent": package.get("intent") or "",
        "trigger": transfer.trigger, "trigger_label": trigger.get("label") or transfer.trigger,
        "customer": {"email": customer.get("email"), "name": customer.get("name"),
                     "company": customer.get("company"),
                     "value": customer.get("value") or "unknown"},
        "waiting_since": package.get("waiting_since") or transfer.created_at,
        "claimed_at": transfer.claimed_at, "escalated_at": transfer.escalated_at,
        "escalated_to": transfer.escalated_to, "closed_at": transfer.closed_at,
        "closed_by": transfer.closed_by,
    }


def list_handoffs(rt: AppRuntime, *, status: TransferStatus | None = None,
                  limit: int = 100) -> list[dict[str, Any]]:
    """Warm transfers, oldest first (the queue order: who has waited longest), optionally
    of one status."""
    query = select(SupportTransfer).order_by(SupportTransfer.created_at, SupportTransfer.id)
    if status is not None:
        query = query.where(SupportTransfer.status == status.value)
    with rt.db.read() as session:
        return [handoff_summary(rt, t) for t in session.scalars(query.limit(limit))]


def transfer_for_thread(rt: AppRuntime, channel: str, thread_ts: str) -> str | None:
    """The transfer whose Slack card roots this thread, if any."""
    with rt.db.session() as session:
        return session.scalar(select(SupportTransfer.id).where(
            SupportTransfer.slack_channel == channel, SupportTransfer.slack_ts == thread_ts))
