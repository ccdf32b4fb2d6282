"""What stops an approved message at the moment of sending (service.outbox asks at the graph's
pre-send step, again when a worker claims the send, and a last time at the mail server's 354,
just before the message leaves: an unsubscribe may land in between, even while the SMTP
conversation opens).

The facts are read from the store here; the rules are the pure `agent.guardrails.send_blocks`
(permission, suppression, caps, approval integrity) and `service.content_check` (nobody else's
data, links only to the allow-list).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from agent.guardrails import SendFacts, content_hash, send_blocks
from service.content_check import draft_content_blocks
from service.lifecycle import OutboxStatus
from service.runtime import AppRuntime
from store.tables import Approval, Decision, Lead, OutboxMessage


def _send_facts(rt: AppRuntime, session: Session, message: OutboxMessage) -> SendFacts:
    now = rt.clock.now()
    lead = session.get(Lead, message.lead_id)
    approval = session.get(Approval, message.approval_id)
    decision = session.scalar(select(Decision).where(Decision.approval_id == message.approval_id))
    sent_recently = session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.lead_id == message.lead_id, OutboxMessage.status == OutboxStatus.SENT,
        OutboxMessage.sent_at >= now - timedelta(days=7))) or 0
    approver = rt.roster.find(decision.actor if decision else None)
    owner = lead.owner if lead else None
    may_send = owner is None or (approval is not None and owner == approval.assignee) or (
        approver is not None and (approver.role == "manager" or approver.key == owner))
    expected = decision.payload.get("content_hash") if decision else None
    return SendFacts(
        recipient=lead.email if lead else None,
        unsubscribed=bool(lead and lead.unsubscribed_at),
        consent=lead.consent if lead else None,
        suppressed_until=lead.suppressed_until if lead else None,
        suppression_reason=lead.suppression_reason if lead else None,
        sent_last_7_days=sent_recently,
        lead_owner=owner,
        approver_may_send_for_owner=may_send,
        content_matches_approval=expected == content_hash(message.subject, message.body),
        now=now,
    )


def send_time_blocks(rt: AppRuntime, session: Session, message: OutboxMessage) -> list[str]:
    """The send guardrails (permission, suppression, caps, approval integrity) and what the
    text says (nobody else's data, links only to the allow-list), checked at the last moment."""
    blocks = send_blocks(_send_facts(rt, session, message),
                         max_messages_per_week=rt.policy.caps.max_messages_per_week)
    approval = session.get(Approval, message.approval_id)
    blocks += draft_content_blocks(rt, session, message.lead_id, message.subject, message.body,
                                   context=approval.context if approval else None)
    return blocks
