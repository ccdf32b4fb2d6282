"""Email notices for people Slack cannot reach: SLA reminders and escalations by email, and an
approval card Slack has not taken for a while (`queue_card_notice`).

When the person an SLA reminder (the card's owner) or escalation (the manager) is meant for
cannot be reached in Slack (no Slack id on the roster, or the Slack surface is off: no
`SLACK_BOT_TOKEN`), the SLA check queues a `deliver_email_notice` job in the same
transaction that records the breach (service/rescue.py). The same goes for the support lead
called in on an unclaimed warm transfer (service/support_transfers.py `escalate_unclaimed`),
and for the former owner of a lead the no-response timer recycled (`queue_recycle_notice`,
which queues the Slack DM instead when Slack reaches them).
The job sends one plain-text email to the member's roster address with the same sender as
approved drafts (`rt.email_sender`, SMTP).

Exactly once, by handoff + SLA + breach step:
- queueing: the breach is recorded on the handoff row in the same transaction (a replayed SLA
  check does nothing), and the job's dedupe key is the notice's key;
- delivery: the job looks for the `sla_notice_emailed` audit entry of the notice before
  speaking SMTP and writes it after the server accepted; a crash between the two resends with
  the same Message-ID (the window the outbox has too), so the receiving side sees a duplicate.
Transient SMTP failures retry with the job queue's backoff for `HITL_SEND_RETRY_HOURS` (the
kind starts with `deliver_email`, see service/worker.py), then park as a failed job that
`GET /v1/jobs?status=failed` lists. A refusal (5xx) is audited as `sla_notice_failed`.

Why not an outbox row: the outbox holds one approved message per approval, to the lead, behind
the send guardrails (consent, caps, content); a notice goes to a colleague about that approval,
so it cannot share the row, and it needs none of the lead's guardrails.

Lead-controlled text (name, company) appears only in the body, cleaned to one line each and
clipped; the subject and every header are our own words and roster names.

The links in a notice open in a browser without a bearer header: signed, expiring read-only
links (service/report_links.py) to `GET /v1/approvals/{id}` or `GET /v1/handoffs/{id}`, valid
`NOTICE_LINK_HOURS`; acting stays with the person's own identity (the CLI command the notice
names, with their personal token, or the card in Slack). Without a signing secret the link is
the plain API address (it then needs the personal token as a bearer header).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.email_rules import AddressError, clean_header_text, lead_address
from agent.policy import Member
from prompts import render
from service.audit import audit
from service.jobs import RetryLater, enqueue
from service.lifecycle import ApprovalStatus, TransferStatus
from service.report_links import NoLinkSecret, signed_url
from service.runtime import AppRuntime
from store.tables import (
    Approval,
    AuditEntry,
    Handoff,
    Lead,
    SlackCard,
    SupportMessage,
    SupportTransfer,
)
from tools.email import OutboundEmail, SendError

log = logging.getLogger(__name__)

NOTICE_JOB = "deliver_email_notice"
SENT_ACTION = "sla_notice_emailed"
FAILED_ACTION = "sla_notice_failed"
QUEUED_ACTION = "notice_queued"
LEAD_TEXT_CHARS = 120  # a lead's name or company, as the notice quotes it
NOTICE_LINK_HOURS = 168  # a notice's read-only links last a week

Step = Literal["reminder", "escalation"]
_SUBJECTS: dict[str, str] = {
    "reminder": "SLA reminder: a lead is waiting for your decision",
    "escalation": "SLA escalation: a lead was reassigned",
    "support_escalation": "Support: a customer is waiting and nobody has claimed it",
    "recycled": "A lead you emailed never answered: recycled to nurture",
    "card_unposted": "A lead is waiting for your decision: Slack has not taken its card",
    "support_unrelayed": "Support: a customer wrote again and Slack has not shown it",
}
RECYCLE_SLACK_JOB = "slack_recycle_notice"  # the Slack surface's DM (slack_app/recycle_notice.py)


def needs_email(rt: AppRuntime, member: Member | None) -> bool:
    """Whether `member` can only be reached by email: on the roster, and either without a
    Slack id or with the Slack surface off (then Slack reaches nobody)."""
    return member is not None and not (rt.settings.slack_enabled and member.slack_id)


def _notice_id(key: str) -> str:
    """A notice's stable id from what makes it one (fits the audit log's subject column)."""
    return f"ntc_{hashlib.sha256(key.encode()).hexdigest()[:32]}"


def notice_id(handoff_id: str, due: str, breach: int) -> str:
    """An SLA notice's id: one per handoff, SLA deadline and breach step."""
    return _notice_id(f"sla:{handoff_id}:{due}:{breach}")


def queue_sla_notice(rt: AppRuntime, session: Session, *, step: Step, handoff: Handoff,
                     approval_id: str, recipient: Member | None, due: str, breach: int,
                     **detail: str | None) -> bool:
    """Queue the email for a breach, inside the caller's transaction, when Slack cannot reach
    `recipient` (needs_email). Returns whether it queued one. `detail` (previous_owner,
    new_owner) is for the escalation's text."""
    if recipient is None or not needs_email(rt, recipient):
        return False
    nid = notice_id(handoff.id, due, breach)
    enqueue(session, NOTICE_JOB, {
        "notice_id": nid, "step": step, "handoff_id": handoff.id, "approval_id": approval_id,
        "lead_id": handoff.lead_id, "to": recipient.key, "due": due, **detail,
    }, now=rt.clock.now(), dedupe_key=f"{NOTICE_JOB}:{nid}")
    return True


def queue_support_escalation(rt: AppRuntime, session: Session, *, transfer_id: str,
                             recipient: Member | None, waited_minutes: int,
                             slack_failing: bool = False) -> bool:
    """Queue the email to the support lead for an unclaimed transfer, inside the caller's
    transaction (service/support_transfers.py `escalate_unclaimed`, once per transfer), when
    Slack cannot reach the lead (needs_email), or, `slack_failing`, when Slack has not taken
    the escalation (service/job_watch.py). One email per transfer either way. Returns whether
    it queued one now."""
    if recipient is None or not (slack_failing or needs_email(rt, recipient)):
        return False
    return _queue_once(rt, session, {
        "notice_id": _notice_id(f"support:{transfer_id}:escalated"),
        "step": "support_escalation", "handoff_id": transfer_id, "approval_id": None,
        "lead_id": None, "to": recipient.key, "waited_minutes": waited_minutes,
        "slack_failing": slack_failing,
    })


def queue_card_notice(rt: AppRuntime, session: Session, *, approval: Approval,
                      recipient: Member | None, failing_since: datetime) -> bool:
    """Queue the email telling `recipient` (the card's assignee) that Slack has not taken the
    approval card since `failing_since`, inside the caller's transaction (service/job_watch.py,
    while the card's post keeps failing). Once per approval, however often it is asked:
    returns whether it queued the email now."""
    if recipient is None:
        return False
    at = failing_since.isoformat()
    return _queue_once(rt, session, {
        "notice_id": _notice_id(f"card:{approval.id}"), "step": "card_unposted",
        "handoff_id": approval.handoff_id, "approval_id": approval.id,
        "lead_id": approval.lead_id, "to": recipient.key, "due": at, "since": at,
    })


def queue_relay_notice(rt: AppRuntime, session: Session, *, transfer: SupportTransfer,
                       recipient: Member | None, failing_since: datetime) -> bool:
    """Queue the email telling `recipient` (who owns the transfer's conversation) that Slack
    has not shown the customer's new messages in its thread since `failing_since`, inside the
    caller's transaction (service/job_watch.py, while the relay keeps failing). Once per
    transfer, however many messages wait: returns whether it queued the email now."""
    if recipient is None:
        return False
    return _queue_once(rt, session, {
        "notice_id": _notice_id(f"relay:{transfer.id}"), "step": "support_unrelayed",
        "handoff_id": transfer.id, "approval_id": None, "lead_id": None, "to": recipient.key,
        "since": failing_since.isoformat(),
    })


def _queue_once(rt: AppRuntime, session: Session, payload: dict[str, Any]) -> bool:
    """Queue the notice job unless this notice was ever queued (marked in the audit log in
    the same transaction): a watcher told again at every retry of a failing job queues it
    once, sent or refused; a job's dedupe key alone would not do, as it lapses once the
    job is claimed."""
    nid, lead_id = payload["notice_id"], payload["lead_id"]
    if _recorded(session, lead_id, nid, (QUEUED_ACTION, SENT_ACTION, FAILED_ACTION)):
        return False
    enqueue(session, NOTICE_JOB, payload, now=rt.clock.now(), dedupe_key=f"{NOTICE_JOB}:{nid}")
    audit(session, rt, actor="system", action=QUEUED_ACTION, lead_id=lead_id, subject_id=nid,
          step=payload["step"], recipient=payload["to"])
    return True


def queue_recycle_notice(rt: AppRuntime, session: Session, *, lead_id: str,
                         recipient: Member | None, since: str, attempts: int,
                         kept_owner: bool = False) -> str:
    """Tell the former owner, once per outreach cycle (`since`), that the no-response timer
    recycled their lead (service/nurture.py, inside its transaction): a Slack DM, or an email
    when Slack cannot reach them (needs_email). Returns how: "slack", "email" or "none"."""
    if recipient is None:
        return "none"
    nid = _notice_id(f"recycled:{lead_id}:{since}")
    payload = {"notice_id": nid, "step": "recycled", "handoff_id": None, "approval_id": None,
               "lead_id": lead_id, "to": recipient.key, "since": since, "attempts": attempts,
               "kept_owner": kept_owner}
    kind = NOTICE_JOB if needs_email(rt, recipient) else RECYCLE_SLACK_JOB
    enqueue(session, kind, payload, now=rt.clock.now(), dedupe_key=f"{kind}:{nid}")
    return "email" if kind == NOTICE_JOB else "slack"


def _recorded(session: Session, lead_id: str | None, nid: str,
              actions: tuple[str, ...] = (SENT_ACTION,)) -> bool:
    """Whether the audit log holds one of `actions` for notice `nid` (by default: sent)."""
    about = AuditEntry.lead_id == lead_id if lead_id else AuditEntry.lead_id.is_(None)
    return session.scalar(select(AuditEntry.id).where(
        about, AuditEntry.action.in_(actions),
        AuditEntry.subject_id == nid).limit(1)) is not None


def _one_line(value: str | None, fallback: str) -> str:
    return clean_header_text(value or "", LEAD_TEXT_CHARS) or fallback


def _name(rt: AppRuntime, key: str | None) -> str:
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


def _when(due: str, timezone: str | None) -> str:
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


def _common(rt: AppRuntime, member: Member) -> dict[str, Any]:
    """What every notice says about its reader: their name and why this came by email."""
    return {"recipient_name": clean_header_text(member.name, 200),
            "slack_off": not rt.settings.slack_enabled}


def compose(rt: AppRuntime, payload: dict[str, Any], lead: Lead, member: Member,
            now: datetime) -> NoticeEmail:
    """The notice as it goes out (pure apart from reading the roster and settings). Raises
    AddressError when the roster address is not one plain address."""
    step: str = payload["step"]
    name = " ".join(p for p in (lead.first_name, lead.last_name) if p)
    if step == "recycled":
        # GET /v1/leads/{id} takes no signed link: the API address, with one's personal token.
        url, expires = f"{rt.settings.public_url.rstrip('/')}/v1/leads/{lead.id}", None
        body = render("recycle_notice_email.j2", **_common(rt, member),
                      lead_name=_one_line(name or lead.email, "unnamed lead"),
                      company=_one_line(lead.company, "unknown"),
                      attempts=int(payload.get("attempts") or 0),
                      since=_when(payload["since"], member.timezone), track=lead.nurture_track,
                      crm=bool(rt.crm_writers), kept_owner=bool(payload.get("kept_owner")),
                      lead_url=url, link_expires=expires)
        return _envelope(rt, payload, member, body, now)
    url, expires = read_link(rt, f"/v1/approvals/{payload['approval_id']}", now)
    body = render(
        "sla_notice_email.j2", kind=step, **_common(rt, member),
        due=_when(payload["due"], member.timezone),
        lead_name=_one_line(name or lead.email, "unnamed lead"),
        company=_one_line(lead.company, "unknown"),
        since=_when(payload["since"], member.timezone) if payload.get("since") else None,
        slack_failing=False,
        previous_owner=_name(rt, payload.get("previous_owner")),
        new_owner=_name(rt, payload.get("new_owner")),
        approval_id=payload["approval_id"], approval_url=url, link_expires=expires)
    return _envelope(rt, payload, member, body, now)


def compose_support(rt: AppRuntime, payload: dict[str, Any], transfer: SupportTransfer,
                    member: Member, now: datetime) -> NoticeEmail:
    """The support lead's notice of an unclaimed transfer, or the owner's of customer messages
    Slack has not shown (`support_unrelayed`)."""
    customer = (transfer.package or {}).get("customer") or {}
    url, expires = read_link(rt, f"/v1/handoffs/{transfer.id}", now)
    body = render(
        "sla_notice_email.j2", kind=payload["step"], **_common(rt, member),
        since=_when(payload["since"], member.timezone) if payload.get("since") else None,
        waited_minutes=int(payload.get("waited_minutes") or 0),
        customer_name=_one_line(customer.get("name") or customer.get("email"), "unknown"),
        company=_one_line(customer.get("company"), "unknown"),
        handoff_id=transfer.id, handoff_url=url, link_expires=expires,
        slack_failing=bool(payload.get("slack_failing")),
        api_url=f"{rt.settings.public_url.rstrip('/')}/v1/handoffs/{transfer.id}")
    return _envelope(rt, payload, member, body, now)


def _envelope(rt: AppRuntime, payload: dict[str, Any], member: Member, body: str,
              now: datetime) -> NoticeEmail:
    domain = parseaddr(rt.settings.from_email)[1].rpartition("@")[2] or "localhost"
    return NoticeEmail(
        to=lead_address(member.email, "roster email"), from_email=rt.settings.from_email,
        from_name="HITL handoff assistant",
        subject=_SUBJECTS[payload["step"]], body=body + "\n",
        message_id=f"<{payload['notice_id']}@{domain}>", list_unsubscribe="", date=now)


def deliver_notice(rt: AppRuntime, payload: dict[str, Any]) -> None:
    """The `deliver_email_notice` job: send one SLA notice, at most once (see the module)."""
    nid, lead_id = payload["notice_id"], payload["lead_id"]
    member = rt.roster.find(payload["to"])
    now = rt.clock.now()
    if member is None:
        return  # the person left the roster
    with rt.db.read() as session:
        if _recorded(session, lead_id, nid):
            return
        try:
            email = _still_due(rt, session, payload, member, now)
        except AddressError as exc:
            log.warning("SLA notice %s not sent: the roster address of %s is unusable: %s",
                        nid, member.key, exc)
            _record(rt, payload, FAILED_ACTION, reason="the roster address is unusable")
            return
    if email is None:
        return
    sender = rt.email_sender
    if sender is None:
        log.warning("SLA notice %s for %s not sent: no SMTP server configured (HITL_SMTP_URL)",
                    nid, member.key)
        _record(rt, payload, FAILED_ACTION, reason="no SMTP server configured")
        return
    try:
        sender.send(email)
    except SendError as exc:
        if exc.transient:
            raise RetryLater(f"SLA notice {nid}: {exc}") from exc
        log.warning("SLA notice %s to %s refused: %s", nid, member.key, exc)
        _record(rt, payload, FAILED_ACTION, reason=str(exc)[:300])
        return
    _record(rt, payload, SENT_ACTION, to=member.email, message_id=email.message_id)


def _still_due(rt: AppRuntime, session: Session, payload: dict[str, Any], member: Member,
              now: datetime) -> NoticeEmail | None:
    """The notice, or None when it no longer has a reason (erased, decided, claimed)."""
    if payload["step"] == "support_escalation":
        transfer = session.get(SupportTransfer, payload["handoff_id"])
        if transfer is None or transfer.status != TransferStatus.WAITING:
            return None  # claimed or closed meanwhile: nothing to chase
        if payload.get("slack_failing") and transfer.escalation_posted:
            return None  # Slack took the alert meanwhile: the lead has it there
        return compose_support(rt, payload, transfer, member, now)
    if payload["step"] == "support_unrelayed":
        transfer = session.get(SupportTransfer, payload["handoff_id"])
        if (transfer is None or transfer.status != TransferStatus.CLAIMED
                or transfer.owner != payload["to"]):
            return None  # resolved, handed back or gone meanwhile: no longer theirs to answer
        if session.scalar(select(SupportMessage.id).where(
                SupportMessage.transfer_id == transfer.id, SupportMessage.role == "customer",
                SupportMessage.slack_ts.is_(None))) is None:
            return None  # Slack took the messages meanwhile: the thread shows them
        return compose_support(rt, payload, transfer, member, now)
    lead = session.get(Lead, payload["lead_id"])
    if lead is None:
        return None  # erased meanwhile
    if payload["step"] in ("reminder", "card_unposted"):
        status = session.scalar(select(Approval.status)
                                .where(Approval.id == payload["approval_id"]))
        if status != ApprovalStatus.PENDING:
            return None  # decided meanwhile: nothing to remind of
    if payload["step"] == "card_unposted" and session.scalar(select(SlackCard.approval_id).where(
            SlackCard.approval_id == payload["approval_id"])) is not None:
        return None  # Slack took the card meanwhile: the rep sees it there
    return compose(rt, payload, lead, member, now)


def _record(rt: AppRuntime, payload: dict[str, Any], action: str, **detail: Any) -> None:
    with rt.db.session() as session:
        audit(session, rt, actor="system", action=action, lead_id=payload["lead_id"],
              subject_id=payload["notice_id"], step=payload["step"], recipient=payload["to"],
              approval_id=payload["approval_id"], **detail)
