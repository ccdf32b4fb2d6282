"""Who hears about a job kind's trouble, and the one door to retrying background work.

Most jobs are listed when they fail for good (`GET /v1/jobs?status=failed`, `hitl_jobs_parked`)
and that is enough. A few stand between a person and what they wait for: a decision's effect
(the card must not say "queued" while nothing is moving), the card itself (a lead's first
touch should not wait out a Slack outage), an SLA reminder (its deadline has passed), or a
customer's words to the person who took the conversation. For those kinds, the handlers below
are told, in the transaction that records it, when a job starts failing, at its retries a
minute or more apart (`jobs.retry_later`), when it is parked, and when someone retries it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import jobs
from service.audit import audit
from service.lifecycle import ApprovalStatus, TransferStatus
from service.outbox_views import RESUME_JOB, redraw_card
from service.runtime import AppRuntime
from store.tables import Approval, Decision, Job, SlackCard, SupportMessage, SupportTransfer


def resume_failing(rt: AppRuntime, session: Session, job_id: int, payload: dict[str, Any],
                   parked: bool, error: BaseException) -> None:
    """A decision's `resume_handoff` job failed (`jobs.retry_later` says when), or was
    `parked`: the approved message is not on its way (`outbox_views.preparing_send_state`:
    retrying, then failed). The card says so each time, with the next try. Once parked
    nothing sends it until someone retries the job, so the decider and a manager also get a
    DM, as for a send that failed for good (`slack_send_failed`)."""
    approval = _approved_by(session, payload)
    if approval is None:
        return
    now = rt.clock.now()
    redraw_card(rt, session, approval.id, now=now)
    if not parked:
        return
    audit(session, rt, actor="system", action="send_preparation_parked",
          lead_id=approval.lead_id, subject_id=approval.id, job_id=job_id)
    from service import notices  # only when someone is told: `hitl ingest` never loads it

    notices.tell_send_failed(rt, session, approval_id=approval.id, lead_id=approval.lead_id,
                             cause=f"{payload['decision_id']}:{job_id}", job_id=job_id)


def _approved_by(session: Session, payload: dict[str, Any]) -> Approval | None:
    """The approved (or edited) approval whose decision a `resume_handoff` job carries."""
    decision = session.get(Decision, payload.get("decision_id"))
    approval = session.get(Approval, decision.approval_id) if decision is not None else None
    if approval is None or approval.status not in (ApprovalStatus.APPROVED.value,
                                                   ApprovalStatus.EDITED.value):
        return None
    return approval


def resume_retried(rt: AppRuntime, session: Session, job_id: int, payload: dict[str, Any]) -> None:
    """Someone retried a decision's `resume_handoff` job: the card stops saying "Not sent" and
    naming the job to retry, and shows the send as queued again."""
    approval = _approved_by(session, payload)
    if approval is not None:
        redraw_card(rt, session, approval.id, now=rt.clock.now())


# A card Slack has not taken for this long is emailed to its assignee (the post keeps retrying
# for HITL_SLACK_RETRY_HOURS; the lead's SLA clock does not wait for Slack). The same for the
# support lead's alert about a customer nobody has claimed.
SLACK_EMAIL_AFTER = timedelta(minutes=15)
CARD_JOB = "slack_post_approval"
ESCALATION_JOB = "support_escalate_slack"
RELAY_JOB = "support_relay"
SLA_JOBS = ("slack_sla_reminder", "slack_sla_escalation")  # service/rescue.py queues them
# An SLA reminder is sent once the deadline has passed, and the lead is reassigned one SLA
# period later (15 minutes for a hand-raise): waiting SLACK_EMAIL_AFTER would use that period
# up, so a reminder Slack refuses goes by email after a couple of retries.
SLA_EMAIL_AFTER = timedelta(minutes=2)


def _slack_refused_for_long(rt: AppRuntime, session: Session, job_id: int, parked: bool,
                            error: BaseException, after: timedelta = SLACK_EMAIL_AFTER
                            ) -> datetime | None:
    """Since when Slack has been refusing this job, when that is `after` or more (or the job
    is parked); None otherwise, and always when the failure is not Slack's (a bug
    or a database error is ours to fix, not a reason to tell a rep Slack is down)."""
    if not jobs.from_slack(error):
        return None
    failing_since = session.scalar(select(Job.failing_since).where(Job.id == job_id))
    if failing_since is None:
        return None
    if not parked and rt.clock.now() - failing_since < after:
        return None
    return failing_since


def card_post_failing(rt: AppRuntime, session: Session, job_id: int, payload: dict[str, Any],
                      parked: bool, error: BaseException) -> None:
    """Slack has refused an approval card's post for `SLACK_EMAIL_AFTER` (or the job is parked):
    its assignee gets one email with a link to read the approval and the command to decide it
    (service/notices.py `queue_card_notice`), unless it was decided or its card is in Slack
    (a later step of the job failing: the rep has the card)."""
    since = _slack_refused_for_long(rt, session, job_id, parked, error)
    if since is None:
        return
    approval = session.get(Approval, payload.get("approval_id"))
    if approval is None or approval.status != ApprovalStatus.PENDING.value:
        return
    if session.get(SlackCard, approval.id) is not None:
        return
    from service import notices  # only when someone is told: `hitl ingest` never loads it

    notices.queue_card_notice(rt, session, approval=approval,
                              recipient=rt.roster.find(approval.assignee), failing_since=since)


def support_alert_failing(rt: AppRuntime, session: Session, job_id: int,
                          payload: dict[str, Any], parked: bool, error: BaseException) -> None:
    """Slack has refused the alert to the support lead about an unclaimed transfer for
    `SLACK_EMAIL_AFTER` (or the job is parked): the person it alerts gets the escalation by
    email instead (one per transfer, the email a lead without a Slack id gets), while the
    customer still waits."""
    if _slack_refused_for_long(rt, session, job_id, parked, error) is None:
        return
    transfer = session.get(SupportTransfer, payload.get("transfer_id"))
    if transfer is None or transfer.status != TransferStatus.WAITING:
        return
    waited = max(1, round((rt.clock.now() - transfer.created_at).total_seconds() / 60))
    from service import support_notices

    support_notices.queue_support_escalation(rt, session, transfer_id=transfer.id,
                                             recipient=rt.roster.find(transfer.escalated_to),
                                             waited_minutes=waited, slack_failing=True)


def customer_relay_failing(rt: AppRuntime, session: Session, job_id: int,
                           payload: dict[str, Any], parked: bool, error: BaseException) -> None:
    """Slack has refused, for `SLACK_EMAIL_AFTER` (or the job is parked), to show a customer's
    new message in the thread of a transfer someone claimed: the person who owns the
    conversation would not see it there, and the customer waits for their answer. The owner
    gets one email per transfer, with the link to read the conversation and the command to
    answer. Not for an agent's own reply written through the API, nor for a transfer nobody
    owns (the support lead's alert covers that), resolved or handed back."""
    since = _slack_refused_for_long(rt, session, job_id, parked, error)
    if since is None:
        return
    message = session.get(SupportMessage, payload.get("message_id"))
    if message is None or message.role != "customer" or message.slack_ts:
        return
    transfer = session.get(SupportTransfer, message.transfer_id)
    if transfer is None or transfer.status != TransferStatus.CLAIMED or not transfer.owner:
        return
    from service import support_notices

    support_notices.queue_relay_notice(rt, session, transfer=transfer,
                                       recipient=rt.roster.find(transfer.owner),
                                       failing_since=since)


def sla_nudge_failing(rt: AppRuntime, session: Session, job_id: int, payload: dict[str, Any],
                      parked: bool, error: BaseException) -> None:
    """Slack has refused an SLA reminder (to the card's holder) or escalation (to the manager)
    for `SLA_EMAIL_AFTER` (or the job is parked): that person gets it by email, once, as
    someone without a Slack id does at the breach (service/notices.py
    `queue_slack_sla_notice`)."""
    since = _slack_refused_for_long(rt, session, job_id, parked, error, SLA_EMAIL_AFTER)
    if since is None:
        return
    approval = session.get(Approval, payload.get("approval_id"))
    if approval is None:
        return
    from service import notices

    notices.queue_slack_sla_notice(rt, session, approval=approval, breach=int(payload["breach"]),
                                   slack_job=job_id, failing_since=since)


# (rt, session, job_id, payload, parked, error): the job failed with `error` and was
# rescheduled, or was parked.
FAILING: dict[str, Callable[[AppRuntime, Session, int, dict[str, Any], bool, BaseException],
                            None]] = {
    RESUME_JOB: resume_failing,
    CARD_JOB: card_post_failing,
    ESCALATION_JOB: support_alert_failing,
    RELAY_JOB: customer_relay_failing,
    **dict.fromkeys(SLA_JOBS, sla_nudge_failing),
}
# (rt, session, job_id, payload): a person made the job due again.
RETRIED: dict[str, Callable[[AppRuntime, Session, int, dict[str, Any]], None]] = {
    RESUME_JOB: resume_retried,
}


def retry_job(rt: AppRuntime, job_id: int, *, actor: str) -> dict[str, Any] | None:
    """Make a parked or waiting job due now with a fresh budget (the API's and the CLI's
    retry); None when there is no such job. Audited, and whoever watches its kind is told."""

    def retried(session: Session, job: jobs.ClaimedJob) -> None:
        audit(session, rt, actor=actor, action="job_retry_requested",
              lead_id=job.payload.get("lead_id"), subject_id=str(job.id), kind=job.kind)
        tell = RETRIED.get(job.kind)
        if tell is not None:  # if telling fails, the retry and its audit entry still stand
            jobs.tell_in_savepoint(session, job, lambda s: tell(rt, s, job.id, job.payload),
                                   what="retried")

    view = jobs.retry_now(rt.db, job_id, now=rt.clock.now(), on_retry=retried)
    if view is not None:
        rt.notify_work()
    return view
