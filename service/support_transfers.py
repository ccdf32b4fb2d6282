"""The warm transfer's person side: `claim`, `agent_reply`, `resolve`, `hand_back`, each
recorded atomically first (a conditional UPDATE: of concurrent claimers exactly one wins), and
`escalate_unclaimed`, the delayed job the transfer queued: nobody claimed in time, so the
support lead is alerted and the customer is told honestly."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agent.policy import Member
from prompts import render
from service.audit import audit
from service.csat import request_rating
from service.errors import Conflict, Forbidden, InvalidInput, NotFound
from service.jobs import enqueue
from service.lifecycle import ConversationStatus, TransferStatus, sources, transition
from service.runtime import AppRuntime
from service.support import support, support_lead
from service.support_notices import queue_support_escalation
from service.support_views import get_handoff
from store.tables import SupportConversation, SupportMessage, SupportTransfer

MAX_AGENT_TEXT = 4000


class AlreadyClaimed(Conflict):
    """A second claimer lost the race; `owner` is who won."""

    def __init__(self, owner: str) -> None:
        super().__init__(f"already claimed by {owner}")
        self.owner = owner


def _member(rt: AppRuntime, actor: str) -> Member:
    member = rt.roster.find(actor)
    roles = support(rt).policy.claim_roles
    if member is None or member.role not in roles:
        raise Forbidden(f"only the support team ({', '.join(roles)} on the roster) can take "
                        "over customer conversations")
    return member


def _load(session: Session, rt: AppRuntime, handoff_id: str) -> SupportTransfer:
    transfer = session.get(SupportTransfer, handoff_id, with_for_update=not rt.db.is_sqlite)
    if transfer is None:
        raise NotFound(f"handoff {handoff_id} not found")
    return transfer


def _system(session: Session, rt: AppRuntime, conversation: SupportConversation, text: str,
            *, kind: str, key: str, transfer_id: str | None) -> None:
    session.add(SupportMessage(conversation_id=conversation.id, epoch=conversation.epoch,
                               role="system", text=text, at=rt.clock.now(), source_key=key,
                               transfer_id=transfer_id, meta={"kind": kind}))
    conversation.updated_at = rt.clock.now()


def _card_changed(session: Session, rt: AppRuntime, transfer_id: str) -> None:
    if rt.settings.slack_enabled:
        enqueue(session, "support_update_card", {"transfer_id": transfer_id},
                now=rt.clock.now(), dedupe_key=f"support_update_card:{transfer_id}")


def claim(rt: AppRuntime, handoff_id: str, actor: str, *,
          via: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Make `actor` the owner. The first claim wins; later ones raise AlreadyClaimed.
    `via`: how the person acted, for the audit log (service.identity.Principal.audit_detail;
    nothing for Slack, which identified the person itself)."""
    member = _member(rt, actor)
    now = rt.clock.now()
    services = support(rt)
    with rt.db.session() as session:
        transfer = _load(session, rt, handoff_id)
        if transfer.status == TransferStatus.CLAIMED and transfer.owner:
            raise AlreadyClaimed(transfer.owner)
        if transfer.status != TransferStatus.WAITING:
            raise Conflict(f"this conversation was already {transfer.status.replace('_', ' ')}")
        won = session.execute(
            update(SupportTransfer)
            .where(SupportTransfer.id == handoff_id,
                   SupportTransfer.status.in_(sources(TransferStatus.CLAIMED)))
            .values(status=transition(transfer.status, TransferStatus.CLAIMED),
                    owner=member.key, claimed_at=now)
        ).rowcount  # type: ignore[attr-defined]
        if won != 1:
            session.refresh(transfer)
            raise AlreadyClaimed(transfer.owner or "someone else")
        conversation = session.get(SupportConversation, transfer.conversation_id)
        assert conversation is not None
        conversation.status = transition(conversation.status, ConversationStatus.HUMAN)
        conversation.owner = member.key
        _system(session, rt, conversation,
                render("support_notices.j2", kind="claimed", agent_name=member.name),
                kind="claimed", key=f"claimed:{handoff_id}", transfer_id=handoff_id)
        audit(session, rt, actor=member.key, action="support_transfer_claimed", lead_id=None,
              subject_id=handoff_id, conversation_id=transfer.conversation_id,
              waited_s=(now - transfer.created_at).total_seconds(), **(via or {}))
        _card_changed(session, rt, handoff_id)
        created_at = transfer.created_at
    services.metrics.claims.inc()
    services.metrics.time_to_claim.observe(max(0.0, (now - created_at).total_seconds()))
    rt.notify_work()
    return get_handoff(rt, handoff_id)


def agent_reply(rt: AppRuntime, handoff_id: str, actor: str, text: str, *,
                source_key: str | None = None, slack_ts: str | None = None) -> dict[str, Any]:
    """The owner's reply to the customer (role `agent`). Idempotent by `source_key`."""
    text = text.strip()[:MAX_AGENT_TEXT]
    if not text:
        raise InvalidInput("the reply is empty", field="text")
    member = rt.roster.find(actor)
    now = rt.clock.now()
    try:
        with rt.db.session() as session:
            transfer = _load(session, rt, handoff_id)
            if transfer.status == TransferStatus.WAITING:
                raise Conflict("claim the conversation first; the customer did not get this")
            if transfer.status != TransferStatus.CLAIMED:
                raise Conflict(f"this conversation was already "
                               f"{transfer.status.replace('_', ' ')}; the customer did not get "
                               "this")
            if member is None or member.key != transfer.owner:
                raise Forbidden(f"only the owner ({transfer.owner}) replies to the customer")
            if source_key and session.scalar(select(SupportMessage.id).where(
                    SupportMessage.source_key == source_key)) is not None:
                return {"duplicate": True}
            conversation = session.get(SupportConversation, transfer.conversation_id)
            assert conversation is not None
            message = SupportMessage(
                conversation_id=conversation.id, epoch=conversation.epoch, role="agent",
                text=text, author=member.key, at=now, transfer_id=handoff_id,
                source_key=source_key, slack_ts=slack_ts, meta={})
            session.add(message)
            conversation.updated_at = now
            if slack_ts is None and rt.settings.slack_enabled:
                # Written outside Slack (the API): shown in the card's thread like the
                # customer's messages, so the team sees the whole conversation there.
                session.flush()
                enqueue(session, "support_relay", {"message_id": message.id}, now=now,
                        dedupe_key=f"support_relay:{message.id}")
    except IntegrityError:  # the same Slack message delivered twice at once
        return {"duplicate": True}
    support(rt).metrics.messages.labels("agent").inc()
    rt.notify_work()
    return {"duplicate": False}


def _close(rt: AppRuntime, handoff_id: str, actor: str, outcome: TransferStatus,
           note: str | None, via: Mapping[str, Any] | None) -> dict[str, Any]:
    member = _member(rt, actor)
    now = rt.clock.now()
    with rt.db.session() as session:
        transfer = _load(session, rt, handoff_id)
        if transfer.status not in sources(outcome):
            raise Conflict(f"this conversation was already {transfer.status.replace('_', ' ')}")
        if transfer.status == TransferStatus.CLAIMED and member.key != transfer.owner and \
                member.role != "manager":
            raise Forbidden(f"only the owner ({transfer.owner}) or a manager can do that")
        won = session.execute(
            update(SupportTransfer)
            .where(SupportTransfer.id == handoff_id,
                   SupportTransfer.status.in_(sources(outcome)))
            .values(status=transition(transfer.status, outcome), active=False, closed_at=now,
                    closed_by=member.key, note=note, owner=transfer.owner or member.key)
        ).rowcount  # type: ignore[attr-defined]
        if won != 1:
            raise Conflict("this conversation was closed a moment ago by someone else")
        conversation = session.get(SupportConversation, transfer.conversation_id)
        assert conversation is not None
        kind = outcome.value
        _system(session, rt, conversation,
                render("support_notices.j2", kind=kind, agent_name=member.name),
                kind=kind, key=f"{kind}:{handoff_id}", transfer_id=handoff_id)
        conversation.owner = None
        if outcome == TransferStatus.RESOLVED:
            conversation.status = transition(conversation.status, ConversationStatus.RESOLVED)
            conversation.resolved_at = now
            request_rating(session, rt, conversation)  # the customer is asked to rate it
        else:
            # A new bot session: the triggers start counting afresh.
            conversation.status = transition(conversation.status, ConversationStatus.BOT)
            conversation.transfer_id = None
            conversation.epoch += 1
        audit(session, rt, actor=member.key, action=f"support_transfer_{kind}", lead_id=None,
              subject_id=handoff_id, conversation_id=transfer.conversation_id, note=note,
              **(via or {}))
        _card_changed(session, rt, handoff_id)
    support(rt).metrics.outcomes.labels(outcome.value).inc()
    rt.notify_work()
    return get_handoff(rt, handoff_id)


def resolve(rt: AppRuntime, handoff_id: str, actor: str, *,
            via: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """End the conversation (status resolved). The owner, a manager, or, unclaimed, the team."""
    return _close(rt, handoff_id, actor, TransferStatus.RESOLVED, None, via)


def hand_back(rt: AppRuntime, handoff_id: str, actor: str, note: str | None = None, *,
              via: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Return the conversation to the bot, with a note for the record (not shown to the
    customer)."""
    cleaned = (note or "").strip()[:2000] or None
    return _close(rt, handoff_id, actor, TransferStatus.HANDED_BACK, cleaned, via)


def escalate_unclaimed(rt: AppRuntime, handoff_id: str) -> bool:
    """The transfer's timer: still unclaimed, so alert the support lead and tell the customer
    honestly. Returns whether it escalated (False: claimed or closed in time, or done before)."""
    services = support(rt)
    policy = services.policy
    now = rt.clock.now()
    with rt.db.session() as session:
        transfer = _load(session, rt, handoff_id)
        if transfer.status != TransferStatus.WAITING or transfer.escalated_at is not None:
            return False
        lead = support_lead(rt, policy)
        transfer.escalated_at = now
        transfer.escalated_to = lead.key if lead else None
        conversation = session.get(SupportConversation, transfer.conversation_id)
        assert conversation is not None
        waited = max(1, round((now - transfer.created_at).total_seconds() / 60))
        session.add(SupportMessage(
            conversation_id=conversation.id, epoch=conversation.epoch, role="bot",
            text=render("support_notices.j2", kind="escalated", waited_minutes=waited,
                        lead_name=lead.name if lead else None),
            at=now, transfer_id=handoff_id, source_key=f"escalated:{handoff_id}",
            meta={"kind": "escalated"}))
        conversation.updated_at = now
        audit(session, rt, actor="system", action="support_transfer_escalated", lead_id=None,
              subject_id=handoff_id, conversation_id=transfer.conversation_id,
              escalated_to=transfer.escalated_to, waited_minutes=waited)
        # A support lead with no Slack id hears of it by email (service/support_notices.py).
        queue_support_escalation(rt, session, transfer_id=handoff_id, recipient=lead,
                                 waited_minutes=waited)
        if rt.settings.slack_enabled:
            enqueue(session, "support_escalate_slack", {"transfer_id": handoff_id}, now=now,
                    dedupe_key=f"support_escalate_slack:{handoff_id}")
            _card_changed(session, rt, handoff_id)
    services.metrics.escalations.inc()
    services.metrics.messages.labels("bot").inc()
    rt.notify_work()
    return True
