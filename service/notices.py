"""Email notices for people Slack cannot reach: SLA reminders and escalations by email, and an
approval card Slack has not taken for a while (`queue_card_notice`).

When the person an SLA reminder (the card's owner) or escalation (the manager) is meant for
cannot be reached in Slack (no Slack id on the roster, or the Slack surface is off: no
`SLACK_BOT_TOKEN`), the SLA check queues a `deliver_email_notice` job in the same
transaction that records the breach (service/rescue.py). The same goes for the former owner of a
lead the no-response timer recycled (`queue_recycle_notice`, which queues the Slack DM instead
when Slack reaches them).
The job sends one plain-text email to the member's roster address with the same sender as
approved drafts (`rt.email_sender`, SMTP).

Each notice is sent at most once by its id, and its text is cleaned as every notice's is
(service/notice_email.py). Support's notices (an unclaimed transfer, a customer's messages Slack
has not shown) are composed in service/support_notices.py and delivered by the same job.
Transient SMTP failures retry with the job queue's backoff for `HITL_SEND_RETRY_HOURS` (the
kind starts with `deliver_email`, see service/worker.py), then park as a failed job that
`GET /v1/jobs?status=failed` lists. A refusal (5xx) is audited as `sla_notice_failed`.

Why not an outbox row: the outbox holds one approved message per approval, to the lead, behind
the send guardrails (consent, caps, content); a notice goes to a colleague about that approval,
so it cannot share the row, and it needs none of the lead's guardrails.

The links in a notice open in a browser without a bearer header: signed, expiring read-only
links (service/report_links.py) to `GET /v1/approvals/{id}` or `GET /v1/handoffs/{id}`, valid
`NOTICE_LINK_HOURS`; acting stays with the person's own identity (the CLI command the notice
names, with their personal token, or the card in Slack). Without a signing secret the link is
the plain API address (it then needs the personal token as a bearer header).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.email_rules import AddressError, clean_header_text
from agent.policy import Member
from prompts import render
from service import notice_email as mail
from service import support_notices
from service.jobs import RetryLater, enqueue
from service.lifecycle import OUTCOME_UNKNOWN, ApprovalStatus, OutboxStatus
from service.notice_email import FAILED_ACTION, NOTICE_JOB, SENT_ACTION, needs_email
from service.runtime import AppRuntime
from store.tables import Approval, Decision, Handoff, Job, Lead, OutboxMessage, SlackCard
from tools.email import SendError

log = logging.getLogger(__name__)

Step = Literal["reminder", "escalation"]
RECYCLE_SLACK_JOB = "slack_recycle_notice"  # the Slack surface's DM (slack_app/recycle_notice.py)


def notice_id(handoff_id: str, due: str, breach: int) -> str:
    """An SLA notice's id: one per handoff, SLA deadline and breach step."""
    return mail.notice_key(f"sla:{handoff_id}:{due}:{breach}")


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


def queue_card_notice(rt: AppRuntime, session: Session, *, approval: Approval,
                      recipient: Member | None, failing_since: datetime) -> bool:
    """Queue the email telling `recipient` (the card's assignee) that Slack has not taken the
    approval card since `failing_since`, inside the caller's transaction (service/job_watch.py,
    while the card's post keeps failing). Once per approval, however often it is asked:
    returns whether it queued the email now."""
    if recipient is None:
        return False
    at = failing_since.isoformat()
    return mail.queue_once(rt, session, {
        "notice_id": mail.notice_key(f"card:{approval.id}"), "step": "card_unposted",
        **_about(approval), "to": recipient.key, "due": at, "since": at,
    })


def tell_send_failed(rt: AppRuntime, session: Session, *, approval_id: str, lead_id: str,
                     cause: str, outbox_id: str | None = None, job_id: int | None = None) -> None:
    """An approved email failed for good (its send, `outbox_id`, or the preparation of its
    send, the parked `job_id`): the owner and a manager hear about it, durably, in the
    caller's transaction: in Slack (`slack_send_failed`, retried through Slack outages), and by
    email those Slack cannot reach (Slack off, or no Slack id on the roster). Once per `cause`."""
    if rt.settings.slack_enabled:
        where = {"outbox_id": outbox_id} if outbox_id else {"job_id": job_id}
        enqueue(session, "slack_send_failed", {**where, "approval_id": approval_id,
                                               "lead_id": lead_id}, now=rt.clock.now(),
                dedupe_key=f"slack_send_failed:{cause}")
    queue_send_failed_notice(rt, session, approval_id=approval_id, cause=cause,
                             outbox_id=outbox_id, job_id=job_id)


def queue_send_failed_notice(rt: AppRuntime, session: Session, *, approval_id: str,
                             cause: str, outbox_id: str | None = None,
                             job_id: int | None = None) -> int:
    """An approved email failed for good (its send, `outbox_id`, or the preparation of its
    send, the parked `job_id`): tell the people the Slack DM tells (`slack_send_failed`: who
    holds the card, who decided, a manager on duty) by email when Slack cannot reach them.
    Once per `cause` and person, inside the caller's transaction; returns how many."""
    approval = session.get(Approval, approval_id)
    if approval is None:
        return 0
    decider = session.scalar(select(Decision.actor).where(
        Decision.approval_id == approval_id, Decision.action.in_(("approve", "edit"))).limit(1))
    people = [rt.roster.find(approval.assignee), rt.roster.find(decider),
              *rt.roster.managers_on_duty()[:1]]
    queued = 0
    for member in {m.key: m for m in people if m is not None}.values():
        if needs_email(rt, member):
            queued += mail.queue_once(rt, session, {
                "notice_id": mail.notice_key(f"send-failed:{approval_id}:{cause}:{member.key}"),
                "step": "send_failed", **_about(approval), "to": member.key,
                "outbox_id": outbox_id, "job_id": job_id})
    return queued


def _about(approval: Approval) -> dict[str, str]:
    """The approval a notice is about, as its payload names it."""
    return {"handoff_id": approval.handoff_id, "approval_id": approval.id,
            "lead_id": approval.lead_id}


def queue_slack_sla_notice(rt: AppRuntime, session: Session, *, approval: Approval,
                           breach: int, slack_job: int, failing_since: datetime) -> bool:
    """Queue the SLA reminder's (`breach` 1, to the card's holder) or escalation's (2, to the
    manager the reassignment named) email when Slack has refused its message since
    `failing_since` (service/job_watch.py, while the `slack_job` retries), inside the caller's
    transaction. Once per approval and breach; not to someone Slack cannot reach (they were
    emailed at the breach), nor a reminder of a card decided meanwhile. Returns whether it
    queued the email now."""
    detail: dict[str, Any] = {}
    if breach == 1:
        if approval.status != ApprovalStatus.PENDING:
            return False
        recipient, step = rt.roster.find(approval.assignee), "reminder"
    else:
        reassigned = session.scalar(select(Decision.payload).where(
            Decision.approval_id == approval.id, Decision.action == "reassign")) or {}
        recipient, step = rt.roster.find(reassigned.get("manager")), "escalation"
        detail = {"previous_owner": reassigned.get("previous_owner"),
                  "new_owner": reassigned.get("escalate_to")}
    if recipient is None or needs_email(rt, recipient) or approval.sla_due_at is None:
        return False
    return mail.queue_once(rt, session, {
        "notice_id": mail.notice_key(f"sla-slack:{approval.id}:{breach}"), "step": step,
        **_about(approval), "to": recipient.key,
        "due": approval.sla_due_at.isoformat(), "since": failing_since.isoformat(),
        "slack_failing": True, "slack_job": slack_job, **detail,
    })


def queue_recycle_notice(rt: AppRuntime, session: Session, *, lead_id: str,
                         recipient: Member | None, since: str, attempts: int,
                         kept_owner: bool = False) -> str:
    """Tell the former owner, once per outreach cycle (`since`), that the no-response timer
    recycled their lead (service/nurture.py, inside its transaction): a Slack DM, or an email
    when Slack cannot reach them (needs_email). Returns how: "slack", "email" or "none"."""
    if recipient is None:
        return "none"
    nid = mail.notice_key(f"recycled:{lead_id}:{since}")
    payload = {"notice_id": nid, "step": "recycled", "handoff_id": None, "approval_id": None,
               "lead_id": lead_id, "to": recipient.key, "since": since, "attempts": attempts,
               "kept_owner": kept_owner}
    kind = NOTICE_JOB if needs_email(rt, recipient) else RECYCLE_SLACK_JOB
    enqueue(session, kind, payload, now=rt.clock.now(), dedupe_key=f"{kind}:{nid}")
    return "email" if kind == NOTICE_JOB else "slack"


def compose(rt: AppRuntime, payload: dict[str, Any], lead: Lead, member: Member,
            now: datetime) -> mail.NoticeEmail:
    """The notice as it goes out (pure apart from reading the roster and settings). Raises
    AddressError when the roster address is not one plain address."""
    step: str = payload["step"]
    name = " ".join(p for p in (lead.first_name, lead.last_name) if p)
    if step == "recycled":
        # GET /v1/leads/{id} takes no signed link: the API address, with one's personal token.
        url, expires = f"{rt.settings.public_url.rstrip('/')}/v1/leads/{lead.id}", None
        body = render("recycle_notice_email.j2", **mail.common(rt, member),
                      lead_name=mail.one_line(name or lead.email, "unnamed lead"),
                      company=mail.one_line(lead.company, "unknown"),
                      attempts=int(payload.get("attempts") or 0),
                      since=mail.when(payload["since"], member.timezone), track=lead.nurture_track,
                      crm=bool(rt.crm_writers), kept_owner=bool(payload.get("kept_owner")),
                      lead_url=url, link_expires=expires)
        return mail.envelope(rt, payload, member, body, now)
    url, expires = mail.read_link(rt, f"/v1/approvals/{payload['approval_id']}", now)
    body = render(
        "sla_notice_email.j2", kind=step, **mail.common(rt, member),
        failure=payload.get("failure"), outcome_unknown=bool(payload.get("outcome_unknown")),
        outbox_id=payload.get("outbox_id"), job_id=payload.get("job_id"),
        due=mail.when(payload["due"], member.timezone) if payload.get("due") else None,
        lead_name=mail.one_line(name or lead.email, "unnamed lead"),
        company=mail.one_line(lead.company, "unknown"),
        since=mail.when(payload["since"], member.timezone) if payload.get("since") else None,
        slack_failing=bool(payload.get("slack_failing")),
        previous_owner=mail.member_name(rt, payload.get("previous_owner")),
        new_owner=mail.member_name(rt, payload.get("new_owner")),
        approval_id=payload["approval_id"], approval_url=url, link_expires=expires)
    return mail.envelope(rt, payload, member, body, now)


def deliver_notice(rt: AppRuntime, payload: dict[str, Any]) -> None:
    """The `deliver_email_notice` job: send one SLA notice, at most once (see the module)."""
    nid, lead_id = payload["notice_id"], payload["lead_id"]
    member = rt.roster.find(payload["to"])
    now = rt.clock.now()
    if member is None:
        return  # the person left the roster
    with rt.db.read() as session:
        if mail.recorded(session, lead_id, nid):
            return
        try:
            email = _still_due(rt, session, payload, member, now)
        except AddressError as exc:
            log.warning("SLA notice %s not sent: the roster address of %s is unusable: %s",
                        nid, member.key, exc)
            mail.record(rt, payload, FAILED_ACTION, reason="the roster address is unusable")
            return
    if email is None:
        return
    sender = rt.email_sender
    if sender is None:
        log.warning("SLA notice %s for %s not sent: no SMTP server configured (HITL_SMTP_URL)",
                    nid, member.key)
        mail.record(rt, payload, FAILED_ACTION, reason="no SMTP server configured")
        return
    try:
        sender.send(email)
    except SendError as exc:
        if exc.transient:
            raise RetryLater(f"SLA notice {nid}: {exc}") from exc
        log.warning("SLA notice %s to %s refused: %s", nid, member.key, exc)
        mail.record(rt, payload, FAILED_ACTION, reason=str(exc)[:300])
        return
    mail.record(rt, payload, SENT_ACTION, to=member.email, message_id=email.message_id)


def _still_due(rt: AppRuntime, session: Session, payload: dict[str, Any], member: Member,
              now: datetime) -> mail.NoticeEmail | None:
    """The notice, or None when it no longer has a reason (erased, decided, claimed)."""
    if payload["step"] in support_notices.STEPS:
        return support_notices.still_due(rt, session, payload, member, now)
    lead = session.get(Lead, payload["lead_id"])
    if lead is None:
        return None  # erased meanwhile
    if payload["step"] in ("reminder", "card_unposted"):
        status = session.scalar(select(Approval.status)
                                .where(Approval.id == payload["approval_id"]))
        if status != ApprovalStatus.PENDING:
            return None  # decided meanwhile: nothing to remind of
    if payload.get("slack_job") is not None and session.get(Job, payload["slack_job"]) is None:
        return None  # Slack took the reminder or escalation meanwhile (its job is done)
    if payload["step"] == "send_failed":
        failure = _failure(session, payload)
        if failure is None:
            return None  # retried and sent (or on its way) since
        payload = {**payload, **failure}
    if payload["step"] == "card_unposted" and session.scalar(select(SlackCard.approval_id).where(
            SlackCard.approval_id == payload["approval_id"])) is not None:
        return None  # Slack took the card meanwhile: the rep sees it there
    return compose(rt, payload, lead, member, now)


def _failure(session: Session, payload: dict[str, Any]) -> dict[str, Any] | None:
    """Why the approved email still did not go out (None: it went, or is on its way): the
    outbox's words, whole enough to carry the advice an unconfirmed handover ends with, and
    whether the mail server may have delivered it after all (then not to be retried blindly)."""
    if not payload.get("outbox_id"):
        job = session.get(Job, payload.get("job_id"))
        if job is None or job.failed_at is None:
            return None
        return {"failure": "preparing its send kept failing and was parked"}
    row = session.execute(select(OutboxMessage.status, OutboxMessage.status_detail).where(
        OutboxMessage.id == payload["outbox_id"])).first()
    if row is None or row.status != OutboxStatus.FAILED:
        return None
    detail = row.status_detail or ""
    return {"failure": clean_header_text(detail, 1000) or "the mail server did not take it",
            "outcome_unknown": detail.startswith(OUTCOME_UNKNOWN)}
