"""The notice email every notice module shares (service/notices.py for a lead's people,
service/support_notices.py for support's): its id, the queue-once mark, the envelope, the
pieces of text every body uses, and the audit entries that say what became of it.

Exactly once, by notice id:
- queueing: the caller records its reason in the same transaction (an SLA breach on the handoff
  row), or `queue_once` marks the notice queued in the audit log (a watcher told at every retry
  of a failing job queues it once); the job's dedupe key is the notice's key;
- delivery: the job looks for the `sla_notice_emailed` audit entry of the notice before
  speaking SMTP and writes it after the server accepted; a crash between the two resends with
  the same Message-ID (the window the outbox has too), so the receiving side sees a duplicate.

Lead- and customer-controlled text (name, company) appears only in the body, cleaned to one line
each and clipped; the subject and every header are our own words and roster names.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.email_rules import clean_header_text, lead_address
from agent.policy import Member
from service.audit import audit
from service.jobs import enqueue
from service.report_links import NoLinkSecret, signed_url
from service.runtime import AppRuntime
from store.tables import AuditEntry
from tools.email import OutboundEmail

NOTICE_JOB = "deliver_email_notice"
SENT_ACTION = "sla_notice_emailed"
FAILED_ACTION = "sla_notice_failed"
QUEUED_ACTION = "notice_queued"
LEAD_TEXT_CHARS = 120  # a lead's name or company, as the notice quotes it
NOTICE_LINK_HOURS = 168  # a notice's read-only links last a week

SUBJECTS: dict[str, str] = {
    "reminder": "SLA reminder: a lead is waiting for your decision",
    "escalation": "SLA escalation: a lead was reassigned",
    "support_escalation": "Support: a customer is waiting and nobody has claimed it",
    "recycled": "A lead you emailed never answered: recycled to nurture",
    "card_unposted": "A lead is waiting for your decision: Slack has not taken its card",
    "support_unrelayed": "Support: a customer wrote again and Slack has not shown it",
    "send_failed": "An approved email was not sent",
}


def needs_email(rt: AppRuntime, member: Member | None) -> bool:
    """Whether `member` can only be reached by email: on the roster, and either without a
    Slack id or with the Slack surface off (then Slack reaches nobody)."""
    return member is not None and not (rt.settings.slack_enabled and member.slack_id)


def notice_key(key: str) -> str:
    """A notice's stable id from what makes it one (fits the audit log's subject column)."""
    return f"ntc_{hashlib.sha256(key.encode()).hexdigest()[:32]}"


def queue_once(rt: AppRuntime, session: Session, payload: dict[str, Any]) -> bool:
    """Queue the notice job unless this notice was ever queued (marked in the audit log in
    the same transaction): a watcher told again at every retry of a failing job queues it
    once, sent or refused; a job's dedupe key alone would not do, as it lapses once the
    job is claimed."""
    nid, lead_id = payload["notice_id"], payload["lead_id"]
    if recorded(session, lead_id, nid, (QUEUED_ACTION, SENT_ACTION, FAILED_ACTION)):
        return False
    enqueue(session, NOTICE_JOB, payload, now=rt.clock.now(), dedupe_key=f"{NOTICE_JOB}:{nid}")
    audit(session, rt, actor="system", action=QUEUED_ACTION, lead_id=lead_id, subject_id=nid,
          step=payload["step"], recipient=payload["to"])
    return True


def recorded(session: Session, lead_id: str | None, nid: str,
              actions: tuple[str, ...] = (SENT_ACTION,)) -> bool:
    """Whether the audit log holds one of `actions` for notice `nid` (by default: sent)."""
    about = AuditEntry.lead_id == lead_id if lead_id else AuditEntry.lead_id.is_(None)
    return session.scalar(select(AuditEntry.id).where(
        about, AuditEntry.action.in_(actions),
        AuditEntry.subject_id == nid).limit(1)) is not None


def one_line(value: str | None, fallback: str) -> str:
    return clean_header_text(value or "", LEAD_TEXT_CHARS) or fallback


def member_name(rt: AppRuntime, key: str | None) -> str:
    member = rt.roster.find(key)
    return clean_header_text(member.name if member else (key or "someone"), 200)


@dataclass(frozen=True)
class NoticeEmail(OutboundEmail):
    """An internal notice: the draft's email without the List-Unsubscribe header (a colleague
    is not on a mailing list)."""

    def as_mime(self) -> EmailMessage:
        message = super().as_mime()
        del message["List-Unsubscribe"]
        return message


def when(due: str, timezone: str | None) -> str:
    """The deadline in UTC, and in the recipient's own time zone when the roster has one."""
    at = datetime.fromisoformat(due)
    at = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)
    text = at.strftime("%Y-%m-%d %H:%M UTC")
    if timezone:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        with contextlib.suppress(ZoneInfoNotFoundError, ValueError):  # an unknown zone: UTC
            text += at.astimezone(ZoneInfo(timezone)).strftime(f", %H:%M {timezone}")
    return text


def read_link(rt: AppRuntime, path: str, now: datetime) -> tuple[str, str | None]:
    """A link a browser opens without a header: `path` signed until a week from `now`, and
    when it expires (UTC text); the plain API address and None when nothing can sign."""
    try:
        url, expires = signed_url(rt.settings, now, hours=NOTICE_LINK_HOURS, path=path)
    except NoLinkSecret:
        return f"{rt.settings.public_url.rstrip('/')}{path}", None
    return url, expires.strftime("%Y-%m-%d %H:%M UTC")


def common(rt: AppRuntime, member: Member) -> dict[str, Any]:
    """What every notice says about its reader: their name and why this came by email."""
    return {"recipient_name": clean_header_text(member.name, 200),
            "slack_off": not rt.settings.slack_enabled}


def envelope(rt: AppRuntime, payload: dict[str, Any], member: Member, body: str,
              now: datetime) -> NoticeEmail:
    domain = parseaddr(rt.settings.from_email)[1].rpartition("@")[2] or "localhost"
    return NoticeEmail(
        to=lead_address(member.email, "roster email"), from_email=rt.settings.from_email,
        from_name="HITL handoff assistant",
        subject=SUBJECTS[payload["step"]], body=body + "\n",
        message_id=f"<{payload['notice_id']}@{domain}>", list_unsubscribe="", date=now)


def record(rt: AppRuntime, payload: dict[str, Any], action: str, **detail: Any) -> None:
    with rt.db.session() as session:
        audit(session, rt, actor="system", action=action, lead_id=payload["lead_id"],
              subject_id=payload["notice_id"], step=payload["step"], recipient=payload["to"],
              approval_id=payload["approval_id"], **detail)
