"""What a person sees of approved messages: the public send status of one, the outbox list
and the depth gauges. Stored statuses map to public ones in service.lifecycle."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select

from service.errors import NotFound
from service.jobs import enqueue
from service.lifecycle import SEND_STATUS, OutboxStatus, SendStatus, stored_outbox_statuses
from service.runtime import AppRuntime
from store.tables import Job, OutboxMessage


def send_state(message: OutboxMessage | None) -> tuple[SendStatus, str | None, datetime | None]:
    """`send_status`, `send_detail` (in words) and `next_attempt_at` of an approval's message."""
    if message is None:
        return "not_applicable", None, None
    status = SEND_STATUS[message.status]
    if status == "retrying":
        since = message.failing_since
        detail = (f"waiting for the mail server since {since:%Y-%m-%d %H:%M} UTC"
                  if since else "waiting for the mail server")
        if message.last_error:
            detail += f" ({message.last_error})"
        return status, detail, message.next_attempt_at
    if status == "queued":
        return status, "queued for sending", None
    if status == "sent":
        return status, f"sent {message.sent_at:%Y-%m-%d %H:%M} UTC" if message.sent_at \
            else "sent", None
    return status, message.status_detail, None


# The job that resumes a handoff's graph with a decision, taking an approved message from the
# decision to the outbox (`service.handoffs.resume_handoff`); its kind is named here, where the
# approval's send state reads it, and queued by `service.approvals`.
RESUME_JOB = "resume_handoff"


def redraw_card(rt: AppRuntime, session: Any, approval_id: str, *, now: datetime) -> None:
    """Queue the approval card's redraw in the caller's transaction (Slack on): what it says of
    the send changed. One queued redraw per card at a time; it reads the state when it runs."""
    if rt.settings.slack_enabled:
        enqueue(session, "slack_update_card", {"approval_id": approval_id}, now=now,
                dedupe_key=f"slack_update:{approval_id}")


def preparing_send_state(job: Any) -> dict[str, Any] | None:
    """The send state of an approved message still queued (`pending`) while its decision's
    `resume_handoff` job (`job`, a `jobs` row) has to run the graph to the send: None while
    that job just waits its turn (the message reads queued), retrying while it fails, failed
    once it was parked, each saying why and, when parked, which job to retry (`hitl jobs retry
    ID`): an approval must never read "queued" while nothing will send it."""
    if job.failing_since is None and job.failed_at is None:
        return None
    # The error's first line only: a database error goes on with its statement and parameters,
    # which are nobody's business on a card or in a DM.
    first_line = (job.last_error or "").strip().splitlines()[:1]
    error = f" ({first_line[0][:200]})" if first_line else ""
    if job.failed_at is not None:
        return {"send_status": "failed", "next_attempt_at": None, "preparing_job_id": job.id,
                "preparing": True,
                "send_detail": f"the send could not be prepared, gave up{error}; "
                               f"retry job {job.id} once it is fixed"}
    return {"send_status": "retrying", "next_attempt_at": job.run_at, "preparing_job_id": None,
            "preparing": True,
            "send_detail": f"preparing the send has failed since "
                           f"{job.failing_since:%Y-%m-%d %H:%M} UTC{error}"}


def preparing_jobs(decision_ids: list[str]) -> Select[Any]:
    """The `resume_handoff` jobs of these decisions still in the queue (done ones are gone)."""
    return select(Job.id, Job.payload, Job.last_error, Job.failing_since, Job.failed_at,
                  Job.run_at).where(Job.kind == RESUME_JOB,
                                    Job.payload["decision_id"].as_string().in_(decision_ids))


def outbox_view(message: OutboxMessage) -> dict[str, Any]:
    """One message as the operations API shows it."""
    send_status, detail, next_at = send_state(message)
    return {
        "outbox_id": message.id, "approval_id": message.approval_id,
        "lead_id": message.lead_id, "to": message.to_email, "subject": message.subject,
        "status": send_status, "detail": detail, "attempts": message.attempts,
        "last_error": message.last_error, "next_attempt_at": next_at,
        "failing_since": message.failing_since, "message_id": message.message_id,
        "created_at": message.created_at, "sent_at": message.sent_at,
    }


def list_outbox(rt: AppRuntime, *, status: SendStatus | None = None,
                limit: int = 200) -> list[dict[str, Any]]:
    """Outbound messages, oldest first, optionally of one public status."""
    query = select(OutboxMessage).order_by(OutboxMessage.created_at, OutboxMessage.id)
    if status is not None:
        query = query.where(OutboxMessage.status.in_(
            [s.value for s in stored_outbox_statuses(status)]))
    with rt.db.read() as session:
        return [outbox_view(m) for m in session.scalars(query.limit(limit))]


def get_outbox(rt: AppRuntime, outbox_id: str) -> dict[str, Any]:
    """One message's view; NotFound if it does not exist (or was erased)."""
    with rt.db.read() as session:
        message = session.get(OutboxMessage, outbox_id)
        if message is None:
            raise NotFound(f"outbox message {outbox_id} not found")
        return outbox_view(message)


def depth_by_status(rt: AppRuntime) -> dict[str, int]:
    """Outbound messages per public status, and how long the oldest retrying one has waited."""
    with rt.db.read() as session:
        rows = session.execute(select(OutboxMessage.status, func.count())
                               .group_by(OutboxMessage.status)).all()
    depth: dict[str, int] = {}
    for stored, n in rows:
        public = SEND_STATUS.get(stored, "failed")
        depth[public] = depth.get(public, 0) + n
    return depth


def oldest_retrying_age_s(rt: AppRuntime) -> float:
    """Seconds since the longest-retrying message first failed (0 when none retries)."""
    with rt.db.read() as session:
        since = session.scalar(select(func.min(OutboxMessage.failing_since)).where(
            OutboxMessage.status == OutboxStatus.RETRYING.value))
    return 0.0 if since is None else max(0.0, (rt.clock.now() - since).total_seconds())
