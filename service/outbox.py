"""Delivering approved messages exactly once per approval (what a person sees of them:
service.outbox_views).

The outbox row is written in the same transaction as the approval decision. Delivery claims it
with a conditional UPDATE (pending/retrying -> sending, with a lease), checks the guardrails
again, speaks SMTP, and marks it sent.

Never twice: when the server's 354 invites the message, the attempt commits `handed_over_at`.
Ended after that without the server's answer (a dropped connection, no answer in RFC 5321's
10 minutes, a crash), it may have been delivered (RFC 5321 6.1): it is parked as `failed`
("not confirmed") for a person to check and retry, never resent by itself. One that died
before the handover is resent.

A transient failure (connection refused, timeout, SMTP 4xx) makes the row `retrying` with a
`next_attempt_at`, and a `deliver_email` job waits for that moment; the row keeps trying for
`HITL_SEND_RETRY_HOURS` and then `failed`. A 5xx answer fails at once with the server's words.
Every change of state updates the Slack card; a failure for good tells the owner and a manager.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.audit import audit
from service.crm_writeback import on_email_sent as crm_on_email_sent
from service.errors import Conflict, NotFound
from service.jobs import RetryLater, backoff, enqueue
from service.lifecycle import (
    OUTCOME_UNKNOWN,
    SEND_STATUS,
    OutboxStatus,
    transition,
)
from service.outbox_views import outbox_view, redraw_card
from service.runtime import AppRuntime
from service.send_checks import send_time_blocks
from service.sla import schedule_no_response_check
from store.tables import Approval, Handoff, Job, Lead, OutboxMessage

if TYPE_CHECKING:
    from tools.email import OutboundEmail

log = logging.getLogger(__name__)

# A claim's lease outlasts the steps up to the handover (at most nine, each within the
# sender's 20 s timeout); the handover renews it for longer than the wait for the server's
# answer (tools.email.DATA_TIMEOUT_S, RFC 5321's 10 minutes). So a second worker never takes
# over a send that is still talking (every write of an attempt is fenced by its claim's number
# besides), and only a crashed worker's lease runs out: one that died before the handover is
# resent 5 minutes later.
SEND_LEASE = timedelta(minutes=5)
HANDED_OVER_LEASE = timedelta(minutes=15)
NO_SENDER = "not_sent: no sender configured"

DeliveryStatus = Literal["sent", "not_sent", "blocked", "failed", "retrying"]
DELIVER_JOB = "deliver_email"


def presend_blocks(rt: AppRuntime, outbox_id: str) -> list[str]:
    """Why this approved message must not go out now; marks the row blocked if so."""
    with rt.db.session() as session:  # locked: a worker's claim waits, or is seen (PostgreSQL)
        message = session.get(OutboxMessage, outbox_id, with_for_update=not rt.db.is_sqlite)
        if message is None:
            return ["the approved message no longer exists (erased)"]
        if message.status == OutboxStatus.BLOCKED:
            return [message.status_detail or "blocked"]
        if message.status not in (OutboxStatus.PENDING, OutboxStatus.RETRYING):
            # Sent, settled otherwise, or being sent (perhaps handed over already): whether it
            # goes out is `deliver`'s to say, which checks again after its claim.
            return []
        blocks = send_time_blocks(rt, session, message)
        if blocks:
            _block(rt, session, message, blocks)
    return blocks


def _block(rt: AppRuntime, session: Session, message: OutboxMessage, blocks: list[str]) -> None:
    """Mark a message blocked for good (why: `blocks`), and say so wherever it shows."""
    message.status = transition(message.status, OutboxStatus.BLOCKED)
    message.status_detail = "; ".join(blocks)
    message.next_attempt_at, message.locked_until = None, None
    audit(session, rt, actor="system", action="send_blocked", lead_id=message.lead_id,
          subject_id=message.id, reasons=blocks)
    _status_changed(rt, session, message)
    rt.metrics.emails.labels("blocked").inc()


def deliver(rt: AppRuntime, outbox_id: str) -> DeliveryStatus:
    """Send one approved message at most once. Idempotent: call it as often as you like."""
    now = rt.clock.now()
    with rt.db.session() as session:
        claimed = session.execute(  # type: ignore[attr-defined]
            update(OutboxMessage)
            .where(OutboxMessage.id == outbox_id,
                   OutboxMessage.status.in_((OutboxStatus.PENDING, OutboxStatus.RETRYING))
                   | ((OutboxMessage.status == OutboxStatus.SENDING)
                      & ((OutboxMessage.locked_until < now)
                         | OutboxMessage.locked_until.is_(None))))
            .values(status=OutboxStatus.SENDING.value, attempts=OutboxMessage.attempts + 1,
                    locked_until=now + SEND_LEASE)
        ).rowcount
        message = session.get(OutboxMessage, outbox_id)
        if message is None:
            return "blocked"
        if claimed != 1:
            if message.status == OutboxStatus.SENDING:
                raise RetryLater(f"{outbox_id} is being sent by another worker")
            return _final_status(message.status)
        if message.handed_over_at is not None:
            # An earlier attempt handed it over and never learned the answer (it died). The
            # claim (one worker wins it) parks the row; it was no attempt to send.
            message.attempts -= 1
            _park_unknown(rt, session, message, "the attempt that handed it to the mail "
                                                "server stopped before the server's answer")
            rt.metrics.emails.labels("failed").inc()
            return "failed"
        # Guardrails again at the last moment: an unsubscribe may have landed since approval.
        blocks = send_time_blocks(rt, session, message)
        if blocks:
            _block(rt, session, message, blocks)
            return "blocked"
        sender = rt.email_sender
        if sender is None:
            message.status = transition(message.status, OutboxStatus.NOT_SENT)
            message.status_detail = NO_SENDER
            message.locked_until = None
            _status_changed(rt, session, message)
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
        attempt = message.attempts  # this claim's number: the row's fence from here on
    # The claim is committed before SMTP starts: a second worker sees "sending" and stays away.
    return _send_claimed(rt, outbox_id, attempt, email)


class _NotHandedOver(Exception):
    """Nothing was handed over: the row is no longer this attempt's (erased), or it is blocked."""


def _ours(outbox_id: str, attempt: int) -> Any:
    """The row while it is still this attempt's: `sending` under the claim numbered `attempt`
    (a second worker's claim, after this one's lease ran out, would have renumbered it)."""
    return ((OutboxMessage.id == outbox_id) & (OutboxMessage.status == OutboxStatus.SENDING)
            & (OutboxMessage.attempts == attempt))


def _still_ours(message: OutboxMessage, attempt: int) -> bool:
    """`_ours`, of a row already read."""
    return message.status == OutboxStatus.SENDING and message.attempts == attempt


def _handing_over(rt: AppRuntime, outbox_id: str, attempt: int) -> None:
    """At the server's 354: the guardrails a last time (an unsubscribe may land while the SMTP
    conversation opens, minutes at worst; blocked, nothing is handed over), then record,
    committed, that this attempt hands the message over now, holding the row for the answer
    (a fresh lease: no other worker takes it meanwhile)."""
    now = rt.clock.now()
    with rt.db.session() as session:
        message = session.scalar(  # the row lock on PostgreSQL; SQLite's is the writer lock
            select(OutboxMessage)
            .where(_ours(outbox_id, attempt), OutboxMessage.handed_over_at.is_(None))
            .with_for_update())
        if message is None:
            raise _NotHandedOver(outbox_id)
        blocks = send_time_blocks(rt, session, message)
        if blocks:
            _block(rt, session, message, blocks)
        else:
            message.handed_over_at, message.locked_until = now, now + HANDED_OVER_LEASE
    if blocks:
        raise _NotHandedOver(outbox_id)


def _send_claimed(rt: AppRuntime, outbox_id: str, attempt: int,
                  email: OutboundEmail) -> DeliveryStatus:
    from tools.email import SendError

    sender = rt.email_sender
    assert sender is not None
    try:
        sender.send(email, handing_over=lambda: _handing_over(rt, outbox_id, attempt))
    except _NotHandedOver:
        with rt.db.read() as session:
            message = session.get(OutboxMessage, outbox_id)
            return "blocked" if message is None else _final_status(message.status)
    except SendError as exc:
        with rt.db.session() as session:
            message = session.get(OutboxMessage, outbox_id)
            if message is None:  # erased while we talked to the server
                return "blocked"
            if not _still_ours(message, attempt):
                log.error("outbox %s: attempt %d failed (%s) after the row moved on to %s",
                          outbox_id, attempt, exc, message.status)
                return _final_status(message.status)
            status: DeliveryStatus = "failed"
            if exc.outcome_unknown:
                _park_unknown(rt, session, message, str(exc))
            else:  # not handed over, or the server answered it: known not to be delivered
                message.handed_over_at = None
                if exc.transient:
                    status = _retry_or_fail(rt, session, message, str(exc))
                else:
                    _fail(rt, session, message, f"the mail server refused it: {exc}")
        rt.metrics.emails.labels("retry" if status == "retrying" else "failed").inc()
        return status
    now = rt.clock.now()
    with rt.db.session() as session:
        message = session.get(OutboxMessage, outbox_id)
        if message is None:
            return "sent"  # erased while the server took it
        if not _still_ours(message, attempt):
            # Cannot happen while the lease outlasts the conversation (the fence makes sure
            # of it); said loudly if it does: the server took this attempt's message.
            log.error("outbox %s: attempt %d was delivered after the row moved on to %s",
                      outbox_id, attempt, message.status)
            return "sent"
        message.status = transition(message.status, OutboxStatus.SENT)
        message.sent_at, message.locked_until = now, None
        message.status_detail, message.next_attempt_at = None, None
        decided = session.scalar(select(Approval.decided_at)
                                 .where(Approval.id == message.approval_id))
        audit(session, rt, actor="system", action="email_sent", lead_id=message.lead_id,
              subject_id=outbox_id, message_id=message.message_id)
        crm_on_email_sent(rt, session, message, now=now)  # CRM write-back
        _status_changed(rt, session, message)
        # An outreach attempt: the no-response recycle counts from here (seed row 4).
        schedule_no_response_check(rt, session, message.lead_id, sent_at=now)
    rt.metrics.emails.labels("sent").inc()
    if decided:
        rt.metrics.decision_to_send.observe((now - decided).total_seconds())
    return "sent"


def _retry_or_fail(rt: AppRuntime, session: Session, message: OutboxMessage,
                   error: str) -> DeliveryStatus:
    """After a transient failure: schedule the next attempt within the send budget, or give up
    once the message has been failing for `HITL_SEND_RETRY_HOURS`."""
    now = rt.clock.now()
    since = message.failing_since or now
    deadline = since + timedelta(hours=rt.settings.send_retry_hours)
    message.failing_since, message.last_error = since, error[:1000]
    if now >= deadline:
        _fail(rt, session, message, f"gave up after {_hours(deadline - since)} of retrying; "
                                    f"last error: {error}")
        return "failed"
    first = message.status != OutboxStatus.RETRYING
    next_at = min(now + backoff(message.attempts), deadline)
    message.status = transition(message.status, OutboxStatus.RETRYING)
    message.locked_until, message.next_attempt_at = None, next_at
    message.status_detail = f"waiting for the mail server: {error}"[:1000]
    _schedule_delivery(session, message.id, at=next_at, now=now)
    if first:  # the card says "waiting since", once; later tries change only the next time
        audit(session, rt, actor="system", action="email_retrying", lead_id=message.lead_id,
              subject_id=message.id, error=error[:300])
    _status_changed(rt, session, message)
    return "retrying"


def _park_unknown(rt: AppRuntime, session: Session, message: OutboxMessage, why: str) -> None:
    """A send that may have been delivered: failed for a person to check, never resent by
    itself (a person's retry clears the handover and sends again)."""
    audit(session, rt, actor="system", action="email_outcome_unknown", lead_id=message.lead_id,
          subject_id=message.id, message_id=message.message_id, error=why[:300])
    message.last_error = f"{OUTCOME_UNKNOWN}: {why}"[:1000]  # not an earlier attempt's 451
    _fail(rt, session, message, (
        f"{OUTCOME_UNKNOWN}: {why}. The mail server may have delivered it, so it was not sent "
        f"again. Check with the recipient or the mail server's log for Message-ID "
        f"{message.message_id}, and retry it only if it did not arrive"))


def _fail(rt: AppRuntime, session: Session, message: OutboxMessage, detail: str) -> None:
    message.status = transition(message.status, OutboxStatus.FAILED)
    message.status_detail = detail[:1000]
    message.locked_until, message.next_attempt_at = None, None
    message.last_error = message.last_error or detail[:1000]
    audit(session, rt, actor="system", action="email_failed", lead_id=message.lead_id,
          subject_id=message.id, error=detail[:300])
    _status_changed(rt, session, message)
    from service.notices import tell_send_failed  # rare: what `hitl ingest` loads stays lean

    tell_send_failed(rt, session, approval_id=message.approval_id, lead_id=message.lead_id,
                     cause=f"{message.id}:{message.attempts}", outbox_id=message.id)


def _schedule_delivery(session: Session, outbox_id: str, *, at: datetime,
                       now: datetime) -> None:
    """One waiting `deliver_email` job per message: move it if it exists, else queue it."""
    key = f"deliver:{outbox_id}"
    moved = session.execute(  # type: ignore[attr-defined]
        update(Job).where(Job.dedupe_key == key).values(run_at=at, failed_at=None)).rowcount
    if not moved:
        enqueue(session, DELIVER_JOB, {"outbox_id": outbox_id}, now=now, run_at=at,
                dedupe_key=key)


def _status_changed(rt: AppRuntime, session: Session, message: OutboxMessage) -> None:
    """Everything that mirrors a send's state follows it: the handoff's outcome and the lead's
    stage (when the handoff already closed on a send still in flight), and the Slack card."""
    now = rt.clock.now()
    approval = session.get(Approval, message.approval_id)
    handoff = session.get(Handoff, approval.handoff_id) if approval else None
    if handoff is not None and not handoff.active and handoff.outcome in _UNSETTLED \
            and message.status in _SETTLED_STAGE:
        handoff.outcome = message.status
        handoff.outcome_detail = message.status_detail
        lead = session.get(Lead, message.lead_id)
        if lead is not None and lead.stage in ("approved", "failed"):
            lead.stage, lead.updated_at = _SETTLED_STAGE[message.status], now
    if approval is not None:
        redraw_card(rt, session, approval.id, now=now)


# A handoff closes when its graph run ends; a send still retrying (or retried by hand after it
# failed) settles its outcome and the lead's stage later.
_UNSETTLED = ("retrying", "failed")
_SETTLED_STAGE = {"sent": "contacted", "failed": "failed", "blocked": "blocked",
                  "not_sent": "approved", "retrying": "approved"}


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.0f} h" if hours >= 1 else f"{delta.total_seconds() / 60:.0f} min"


def deliver_job(rt: AppRuntime, payload: dict[str, Any]) -> None:
    """The `deliver_email` job: the next attempt of a retrying message (or a manual retry)."""
    deliver(rt, payload["outbox_id"])


def release_send_leases(rt: AppRuntime) -> int:
    """After a crash of the only process (SQLite), a `sending` lease it held is void: the next
    attempt takes the row at once instead of waiting the lease out (and resends it, or parks
    it if the dead attempt had handed it over)."""
    with rt.db.session() as session:
        return int(session.execute(  # type: ignore[attr-defined]
            update(OutboxMessage).where(OutboxMessage.status == OutboxStatus.SENDING)
            .values(locked_until=None)).rowcount)


def _final_status(status: str) -> DeliveryStatus:
    if status in (OutboxStatus.SENT, OutboxStatus.NOT_SENT, OutboxStatus.BLOCKED,
                  OutboxStatus.FAILED):
        return status  # type: ignore[return-value]
    raise RetryLater(f"outbox message in state {status}")


def _list_unsubscribe(rt: AppRuntime, message: OutboxMessage) -> str:
    domain = parseaddr(rt.settings.from_email)[1].rpartition("@")[2] or "localhost"
    return f"<mailto:unsubscribe@{domain}?subject=unsubscribe%20{message.lead_id}>"


def retry(rt: AppRuntime, outbox_id: str, *, actor: str) -> dict[str, Any]:
    """Try a `retrying` or `failed` message again now, with a fresh retry budget.

    Still exactly once: the same row, the same Message-ID, and delivery claims the row before
    talking SMTP (for a send whose outcome was unknown, the person retrying has checked that
    it did not arrive). Raises Conflict (409) for a sent, blocked or not-yet-tried message."""
    now = rt.clock.now()
    with rt.db.session() as session:
        message = session.get(OutboxMessage, outbox_id, with_for_update=not rt.db.is_sqlite)
        if message is None:
            raise NotFound(f"outbox message {outbox_id} not found")
        if message.status not in (OutboxStatus.RETRYING, OutboxStatus.FAILED):
            public = SEND_STATUS[message.status]
            why = {"sent": "it was already sent",
                   "blocked": f"it is blocked ({message.status_detail}); a blocked message is "
                              "never sent",
                   "queued": "it is queued or being sent right now"}.get(public, public)
            raise Conflict(f"outbox message {outbox_id} cannot be retried: {why}")
        message.status = transition(message.status, OutboxStatus.RETRYING)
        message.failing_since, message.handed_over_at = None, None  # a person's call: send it
        message.next_attempt_at, message.locked_until = now, None
        message.status_detail = "retry requested"
        _schedule_delivery(session, outbox_id, at=now, now=now)
        audit(session, rt, actor=actor, action="email_retry_requested", lead_id=message.lead_id,
              subject_id=outbox_id)
        view = outbox_view(message)
    rt.notify_work()
    return view
