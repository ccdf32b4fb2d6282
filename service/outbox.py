"""Delivering approved messages exactly once per approval.

The outbox row is written in the same transaction as the approval decision. Delivery claims it
with a conditional UPDATE (pending -> sending, with a lease), checks the guardrails again, speaks
SMTP, and marks it sent. If the process dies mid-conversation, the lease expires and the next
attempt resends with the same Message-ID, so the receiving side can recognise the duplicate; the
window for that is the few milliseconds between the server's 250 and our commit.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from email.utils import parseaddr
from typing import Literal

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from agent.guardrails import SendFacts, send_blocks
from service.approvals import content_hash
from service.leads import audit
from service.runtime import AppRuntime
from store.tables import Approval, Decision, Lead, OutboxMessage

log = logging.getLogger(__name__)

SEND_LEASE = timedelta(minutes=2)
NO_SENDER = "not_sent: no sender configured"

DeliveryStatus = Literal["sent", "not_sent", "blocked", "failed"]


class RetryLater(Exception):
    """A transient failure (SMTP 4xx, Slack 429, a lease held elsewhere): the job runner
    retries with backoff, no sooner than `retry_after` seconds when the other side said so."""

    def __init__(self, message: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _facts(rt: AppRuntime, session: Session, message: OutboxMessage) -> SendFacts:
    now = rt.clock.now()
    lead = session.get(Lead, message.lead_id)
    approval = session.get(Approval, message.approval_id)
    decision = session.scalar(select(Decision).where(Decision.approval_id == message.approval_id))
    sent_recently = session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.lead_id == message.lead_id, OutboxMessage.status == "sent",
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


def presend_blocks(rt: AppRuntime, outbox_id: str) -> list[str]:
    """Why this approved message must not go out now; marks the row blocked if so."""
    with rt.db.session() as session:
        message = session.get(OutboxMessage, outbox_id)
        if message is None:
            return ["the approved message no longer exists (erased)"]
        if message.status in ("sent", "blocked"):
            return [] if message.status == "sent" else [message.status_detail or "blocked"]
        blocks = send_blocks(_facts(rt, session, message),
                             max_messages_per_week=rt.policy.caps.max_messages_per_week)
        if blocks:
            message.status = "blocked"
            message.status_detail = "; ".join(blocks)
            audit(session, rt, actor="system", action="send_blocked", lead_id=message.lead_id,
                  subject_id=outbox_id, reasons=blocks)
    if blocks:
        rt.metrics.emails.labels("blocked").inc()
    return blocks


def deliver(rt: AppRuntime, outbox_id: str) -> DeliveryStatus:
    """Send one approved message at most once. Idempotent: call it as often as you like."""
    now = rt.clock.now()
    with rt.db.session() as session:
        claimed = session.execute(  # type: ignore[attr-defined]
            update(OutboxMessage)
            .where(OutboxMessage.id == outbox_id,
                   (OutboxMessage.status == "pending")
                   | ((OutboxMessage.status == "sending")
                      & ((OutboxMessage.locked_until < now)
                         | OutboxMessage.locked_until.is_(None))))
            .values(status="sending", attempts=OutboxMessage.attempts + 1,
                    locked_until=now + SEND_LEASE)
        ).rowcount
        message = session.get(OutboxMessage, outbox_id)
        if message is None:
            return "blocked"
        if claimed != 1:
            if message.status == "sending":
                raise RetryLater(f"{outbox_id} is being sent by another worker")
            return _final_status(message.status)
        # Guardrails again at the last moment: an unsubscribe may have landed since approval.
        blocks = send_blocks(_facts(rt, session, message),
                             max_messages_per_week=rt.policy.caps.max_messages_per_week)
        if blocks:
            message.status, message.status_detail = "blocked", "; ".join(blocks)
            rt.metrics.emails.labels("blocked").inc()
            return "blocked"
        sender = rt.email_sender
        if sender is None:
            message.status, message.status_detail = "not_sent", NO_SENDER
            audit(session, rt, actor="system", action="email_not_sent", lead_id=message.lead_id,
                  subject_id=outbox_id, reason=NO_SENDER)
            rt.metrics.emails.labels("not_sent").inc()
            return "not_sent"
        from_name = None
        owner = rt.roster.find(message.from_email)
        if owner is not None:
            from_name = owner.name
        from tools.email import OutboundEmail

        email = OutboundEmail(
            to=message.to_email or "", from_email=message.from_email, from_name=from_name,
            subject=message.subject, body=message.body, message_id=message.message_id,
            list_unsubscribe=_list_unsubscribe(rt, message), date=now,
        )
    # The claim is committed before SMTP starts: a second worker sees "sending" and stays away.
    return _send_claimed(rt, outbox_id, email)


def _send_claimed(rt: AppRuntime, outbox_id: str, email: object) -> DeliveryStatus:
    from tools.email import SendError

    sender = rt.email_sender
    assert sender is not None
    try:
        sender.send(email)  # type: ignore[arg-type]
    except SendError as exc:
        with rt.db.session() as session:
            message = session.get(OutboxMessage, outbox_id)
            assert message is not None
            message.status_detail = str(exc)[:1000]
            if exc.transient:
                message.status, message.locked_until = "pending", None
            else:
                message.status = "failed"
                audit(session, rt, actor="system", action="email_failed",
                      lead_id=message.lead_id, subject_id=outbox_id, error=str(exc)[:300])
        rt.metrics.emails.labels("retry" if exc.transient else "failed").inc()
        if exc.transient:
            raise RetryLater(str(exc)) from exc
        return "failed"
    now = rt.clock.now()
    with rt.db.session() as session:
        message = session.get(OutboxMessage, outbox_id)
        assert message is not None
        message.status, message.sent_at, message.locked_until = "sent", now, None
        message.status_detail = None
        decided = session.scalar(select(Approval.decided_at)
                                 .where(Approval.id == message.approval_id))
        audit(session, rt, actor="system", action="email_sent", lead_id=message.lead_id,
              subject_id=outbox_id, message_id=message.message_id)
    rt.metrics.emails.labels("sent").inc()
    if decided:
        rt.metrics.decision_to_send.observe((now - decided).total_seconds())
    return "sent"


def release_send_leases(rt: AppRuntime) -> int:
    """After a crash of the only process (SQLite), a `sending` lease it held is void: the next
    attempt may resend at once (same Message-ID) instead of waiting the lease out."""
    with rt.db.session() as session:
        return int(session.execute(  # type: ignore[attr-defined]
            update(OutboxMessage).where(OutboxMessage.status == "sending")
            .values(locked_until=None)).rowcount)


def _final_status(status: str) -> DeliveryStatus:
    if status in ("sent", "not_sent", "blocked", "failed"):
        return status  # type: ignore[return-value]
    raise RetryLater(f"outbox message in state {status}")


def _list_unsubscribe(rt: AppRuntime, message: OutboxMessage) -> str:
    domain = parseaddr(rt.settings.from_email)[1].rpartition("@")[2] or "localhost"
    return f"<mailto:unsubscribe@{domain}?subject=unsubscribe%20{message.lead_id}>"
