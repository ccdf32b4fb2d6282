"""Notices about customer feedback: a low rating's follow-up for the support lead, and a
callback's heads-up and reminder (to its owner) and escalation (to the support lead).

Where a notice goes: Slack when the recipient has a Slack id and the Slack surface is on (a
post in the support channel that mentions them: `slack_support_feedback`, the Slack surface's
job, slack_app/support/feedback_jobs.py); otherwise, for a roster member Slack cannot reach
(service/notice_email.py `needs_email`), one plain-text email (`deliver_email_feedback`, here).

Exactly once: the caller queues inside the transaction that records the reason (the rating,
the callback's breach), with a dedupe key per notice; delivery checks the notice's audit entry
(`support_feedback_delivered`) before speaking to Slack or SMTP and writes it after (a crash
between the two may repeat it, with the same Message-ID for email).
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.email_rules import AddressError, clean_header_text, lead_address
from agent.policy import Member
from prompts import render
from service.audit import audit
from service.jobs import RetryLater, enqueue
from service.notice_email import NoticeEmail, needs_email
from service.runtime import AppRuntime
from store.tables import AuditEntry, SupportConversation
from store.tables.feedback import SupportCallback, SupportRating
from tools.email import SendError

log = logging.getLogger(__name__)

EMAIL_JOB = "deliver_email_feedback"
SLACK_JOB = "slack_support_feedback"
DELIVERED = "support_feedback_delivered"
COMMENT_CHARS = 500
Kind = Literal["csat", "callback_scheduled", "callback_reminder", "callback_escalation"]
Via = Literal["slack", "email", "none"]
_SUBJECTS: dict[str, str] = {
    "csat": "Support: a customer rated a conversation poorly",
    "callback_scheduled": "Support: a customer asked you to call them back",
    "callback_reminder": "Support: a customer is waiting for your call",
    "callback_escalation": "Support: a customer's callback is overdue",
}


def notice_id(kind: str, subject_id: str) -> str:
    digest = hashlib.sha256(f"feedback:{kind}:{subject_id}".encode()).hexdigest()
    return f"ntc_{digest[:32]}"


def queue_followup(rt: AppRuntime, session: Session, *, kind: Kind, subject_id: str,
                   recipient: Member | None, key: str | None = None) -> Via:
    """Queue the notice for `recipient` inside the caller's transaction; how it will go.
    `key` tells apart several notices about one subject (a callback's steps)."""
    if recipient is None:
        return "none"
    nid = notice_id(kind, key or subject_id)
    payload = {"notice_id": nid, "kind": kind, "subject_id": subject_id, "to": recipient.key}
    if needs_email(rt, recipient):
        enqueue(session, EMAIL_JOB, payload, now=rt.clock.now(),
                dedupe_key=f"{EMAIL_JOB}:{nid}")
        return "email"
    enqueue(session, SLACK_JOB, payload, now=rt.clock.now(), dedupe_key=f"{SLACK_JOB}:{nid}")
    return "slack"


def delivered(rt: AppRuntime, nid: str) -> bool:
    with rt.db.read() as session:
        return session.scalar(select(AuditEntry.id).where(
            AuditEntry.action == DELIVERED, AuditEntry.subject_id == nid,
            AuditEntry.lead_id.is_(None)).limit(1)) is not None


def mark_delivered(rt: AppRuntime, payload: dict[str, Any], via: str, **detail: Any) -> None:
    now = rt.clock.now()
    with rt.db.session() as session:
        audit(session, rt, actor="system", action=DELIVERED, lead_id=None,
              subject_id=payload["notice_id"], kind=payload["kind"], via=via,
              recipient=payload["to"], about=payload["subject_id"], **detail)
        if payload["kind"] == "csat":
            row = session.get(SupportRating, payload["subject_id"])
            if row is not None and row.followup_done_at is None:
                row.followup_done_at = now


def facts(rt: AppRuntime, payload: dict[str, Any]) -> dict[str, Any] | None:
    """What a notice says (customer text cleaned to one line and clipped; the surface escapes
    it again for its own markup), or None when it no longer has a reason (gone, done)."""
    with rt.db.read() as session:
        if payload["kind"] == "csat":
            rating = session.get(SupportRating, payload["subject_id"])
            if rating is None:
                return None
            conversation = session.get(SupportConversation, rating.conversation_id)
            return {"kind": "csat", "score": rating.score, "path": rating.path,
                    "trigger": rating.trigger or "none",
                    "agent": _name(rt, rating.agent) if rating.agent else "the bot",
                    "comment": clean_header_text(rating.comment or "", COMMENT_CHARS),
                    "customer": _customer(conversation),
                    "conversation_id": rating.conversation_id,
                    "transfer_id": rating.transfer_id}
        callback = session.get(SupportCallback, payload["subject_id"])
        if callback is None or callback.status != "open":
            return None  # done or cancelled meanwhile
        conversation = session.get(SupportConversation, callback.conversation_id)
        return {"kind": payload["kind"], "due_at": callback.due_at,
                "due": _when(callback.due_at, callback.timezone),
                "phone": clean_header_text(callback.phone or "", 32) or None,
                "owner": _name(rt, callback.owner) if callback.owner else "nobody",
                "customer": _customer(conversation),
                "conversation_id": callback.conversation_id, "callback_id": callback.id}


def _customer(conversation: SupportConversation | None) -> str:
    if conversation is None:
        return "unknown"
    return clean_header_text(conversation.customer_name or conversation.customer_email or "",
                             120) or "unknown"


def _name(rt: AppRuntime, key: str | None) -> str:
    member = rt.roster.find(key)
    return clean_header_text(member.name if member else (key or "someone"), 200)


def _when(at: datetime, timezone: str) -> str:
    from zoneinfo import ZoneInfo

    return at.astimezone(ZoneInfo(timezone)).strftime(f"%a %d %b %Y %H:%M ({timezone})")


def deliver_email(rt: AppRuntime, payload: dict[str, Any]) -> None:
    """The `deliver_email_feedback` job: one email, at most once (see the module)."""
    nid = payload["notice_id"]
    member = rt.roster.find(payload["to"])
    if member is None or delivered(rt, nid):
        return
    about = facts(rt, payload)
    if about is None:
        return
    sender = rt.email_sender
    if sender is None:
        log.warning("feedback notice %s not sent: no SMTP server configured", nid)
        return
    base = rt.settings.public_url.rstrip("/")
    body = render("support_feedback_email.j2", recipient_name=_name(rt, member.key),
                  api_url=f"{base}/v1/conversations/{about['conversation_id']}", **about)
    try:
        to = lead_address(member.email, "roster email")
    except AddressError as exc:
        log.warning("feedback notice %s not sent: unusable roster address: %s", nid, exc)
        return
    from email.utils import parseaddr

    domain = parseaddr(rt.settings.from_email)[1].rpartition("@")[2] or "localhost"
    email = NoticeEmail(to=to, from_email=rt.settings.from_email,
                        from_name="HITL support assistant", subject=_SUBJECTS[payload["kind"]],
                        body=body + "\n", message_id=f"<{nid}@{domain}>", list_unsubscribe="",
                        date=rt.clock.now())
    try:
        sender.send(email)
    except SendError as exc:
        if exc.transient:
            raise RetryLater(f"feedback notice {nid}: {exc}") from exc
        log.warning("feedback notice %s to %s refused: %s", nid, member.key, exc)
        return
    mark_delivered(rt, payload, "email", message_id=email.message_id)
