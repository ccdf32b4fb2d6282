"""Email notices about support conversations (the support lead's alert about a customer nobody
has claimed, the owner's about a customer's messages Slack has not shown), sent as every notice
is (service/notice_email.py, the `deliver_email_notice` job of service/notices.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.policy import Member
from prompts import render
from service import notice_email as mail
from service.lifecycle import TransferStatus
from service.runtime import AppRuntime
from store.tables import SupportMessage, SupportTransfer

STEPS = ("support_escalation", "support_unrelayed")


def queue_support_escalation(rt: AppRuntime, session: Session, *, transfer_id: str,
                             recipient: Member | None, waited_minutes: int,
                             slack_failing: bool = False) -> bool:
    """Queue the email to the support lead for an unclaimed transfer, inside the caller's
    transaction (service/support_transfers.py `escalate_unclaimed`, once per transfer), when
    Slack cannot reach the lead (needs_email), or, `slack_failing`, when Slack has not taken
    the escalation (service/job_watch.py). One email per transfer either way. Returns whether
    it queued one now."""
    if recipient is None or not (slack_failing or mail.needs_email(rt, recipient)):
        return False
    return mail.queue_once(rt, session, {
        "notice_id": mail.notice_key(f"support:{transfer_id}:escalated"),
        "step": "support_escalation", "handoff_id": transfer_id, "approval_id": None,
        "lead_id": None, "to": recipient.key, "waited_minutes": waited_minutes,
        "slack_failing": slack_failing,
    })


def queue_relay_notice(rt: AppRuntime, session: Session, *, transfer: SupportTransfer,
                       recipient: Member | None, failing_since: datetime) -> bool:
    """Queue the email telling `recipient` (who owns the transfer's conversation) that Slack
    has not shown the customer's new messages in its thread since `failing_since`, inside the
    caller's transaction (service/job_watch.py, while the relay keeps failing). Once per
    transfer, however many messages wait: returns whether it queued the email now."""
    if recipient is None:
        return False
    return mail.queue_once(rt, session, {
        "notice_id": mail.notice_key(f"relay:{transfer.id}"), "step": "support_unrelayed",
        "handoff_id": transfer.id, "approval_id": None, "lead_id": None, "to": recipient.key,
        "since": failing_since.isoformat(),
    })


def compose(rt: AppRuntime, payload: dict[str, Any], transfer: SupportTransfer,
                    member: Member, now: datetime) -> mail.NoticeEmail:
    """The support lead's notice of an unclaimed transfer, or the owner's of customer messages
    Slack has not shown (`support_unrelayed`)."""
    customer = (transfer.package or {}).get("customer") or {}
    url, expires = mail.read_link(rt, f"/v1/handoffs/{transfer.id}", now)
    body = render(
        "sla_notice_email.j2", kind=payload["step"], **mail.common(rt, member),
        since=mail.when(payload["since"], member.timezone) if payload.get("since") else None,
        waited_minutes=int(payload.get("waited_minutes") or 0),
        customer_name=mail.one_line(customer.get("name") or customer.get("email"), "unknown"),
        company=mail.one_line(customer.get("company"), "unknown"),
        handoff_id=transfer.id, handoff_url=url, link_expires=expires,
        slack_failing=bool(payload.get("slack_failing")),
        api_url=f"{rt.settings.public_url.rstrip('/')}/v1/handoffs/{transfer.id}")
    return mail.envelope(rt, payload, member, body, now)


def still_due(rt: AppRuntime, session: Session, payload: dict[str, Any], member: Member,
              now: datetime) -> mail.NoticeEmail | None:
    """The support notice, or None when it no longer has a reason (claimed, resolved, handed
    back, or Slack took what it was about meanwhile)."""
    if payload["step"] == "support_escalation":
        transfer = session.get(SupportTransfer, payload["handoff_id"])
        if transfer is None or transfer.status != TransferStatus.WAITING:
            return None  # claimed or closed meanwhile: nothing to chase
        if payload.get("slack_failing") and transfer.escalation_posted:
            return None  # Slack took the alert meanwhile: the lead has it there
        return compose(rt, payload, transfer, member, now)
    if payload["step"] == "support_unrelayed":
        transfer = session.get(SupportTransfer, payload["handoff_id"])
        if (transfer is None or transfer.status != TransferStatus.CLAIMED
                or transfer.owner != payload["to"]):
            return None  # resolved, handed back or gone meanwhile: no longer theirs to answer
        if session.scalar(select(SupportMessage.id).where(
                SupportMessage.transfer_id == transfer.id, SupportMessage.role == "customer",
                SupportMessage.slack_ts.is_(None))) is None:
            return None  # Slack took the messages meanwhile: the thread shows them
        return compose(rt, payload, transfer, member, now)
    return None
