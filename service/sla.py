"""SLA timers: when a handoff's next breach check is due, and when an emailed lead that never
answered is recycled (`no_response_check`).

Timers are rows in the jobs table with `run_at` (see service/jobs.py): they survive restarts, and
on PostgreSQL `FOR UPDATE SKIP LOCKED` hands each one to exactly one replica. What happens when
one fires (reminder, then momentum rescue) is service/rescue.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from agent.models import Signal
from agent.policy import Member
from agent.qualification.intent import as_utc
from agent.sla import sla_due_at
from service.jobs import enqueue
from service.lifecycle import OutboxStatus
from service.runtime import AppRuntime
from store.tables import Event, Handoff, Lead, OutboxMessage


def owner_timezone(rt: AppRuntime, member: Member | None) -> str | None:
    if member is None or not rt.policy.business_hours.use_owner_timezone:
        return None
    return member.timezone


def schedule_sla_check(rt: AppRuntime, session: Any, handoff: Handoff, *, breach: int,
                       at: datetime) -> None:
    """Queue the check for breach number `breach` of the handoff's current SLA."""
    if handoff.sla_due_at is None:
        return
    due = handoff.sla_due_at.isoformat()
    enqueue(session, "sla_check", {"handoff_id": handoff.id, "breach": breach, "due": due},
            now=rt.clock.now(), run_at=at, dedupe_key=f"sla:{handoff.id}:{due}:{breach}")


def restart_sla(rt: AppRuntime, session: Any, handoff: Handoff, holder: Member,
                now: datetime) -> None:
    """A new holder (the rescue's reassignment, a person's escalation) gets an SLA window of
    their own from now: breaches counted afresh, the lead's due time the same, the first check
    queued. (Kept, the old deadline made an escalated card overdue on arrival, and the rescue
    took it from the manager it was escalated to.)"""
    handoff.sla_breaches = 0
    handoff.sla_due_at = sla_due_at(handoff.route, now, rt.policy,  # type: ignore[arg-type]
                                    tz=owner_timezone(rt, holder))
    lead = session.get(Lead, handoff.lead_id)
    if lead is not None:
        lead.sla_due_at = handoff.sla_due_at
    schedule_sla_check(rt, session, handoff, breach=1, at=handoff.sla_due_at or now)


# --- "Unresponsive after outreach": the no-response recycle timer (seed row 4) ---------------

NO_RESPONSE_JOB = "no_response_check"


def outreach_since(session: Any, lead_id: str, since: datetime) -> tuple[list[datetime],
                                                                         list[Signal]]:
    """The outreach emails sent to the lead from `since` on, and its connects (replies, booked
    meetings) in that time: what the no-response rule counts."""
    from agent.sla import CONNECT_TYPES

    sends = [as_utc(at) for at in session.scalars(
        select(OutboxMessage.sent_at).where(
            OutboxMessage.lead_id == lead_id, OutboxMessage.status == OutboxStatus.SENT.value,
            OutboxMessage.sent_at >= since).order_by(OutboxMessage.sent_at)) if at is not None]
    rows = session.execute(select(Event.event_id, Event.type, Event.occurred_at).where(
        Event.lead_id == lead_id, Event.type.in_(sorted(CONNECT_TYPES)),
        Event.occurred_at >= since)).all()
    connects = [Signal.model_construct(event_id=r.event_id, type=r.type,
                                       occurred_at=as_utc(r.occurred_at), properties={})
                for r in rows]
    return sends, connects


def outreach_cycle_start(session: Any, lead: Lead) -> datetime | None:
    """The first outreach email of the lead's current cycle: sent after its last recycle and
    after its last connect (a reply or meeting starts the count again), or None."""
    from agent.sla import CONNECT_TYPES

    floors = [as_utc(lead.recycled_at)] if lead.recycled_at else []
    last_connect = session.scalar(select(func.max(Event.occurred_at)).where(
        Event.lead_id == lead.id, Event.type.in_(sorted(CONNECT_TYPES))))
    if last_connect is not None:
        floors.append(as_utc(last_connect))
    query = select(func.min(OutboxMessage.sent_at)).where(
        OutboxMessage.lead_id == lead.id, OutboxMessage.status == OutboxStatus.SENT.value)
    if floors:
        query = query.where(OutboxMessage.sent_at > max(floors))
    first = session.scalar(query)
    return as_utc(first) if first is not None else None


def schedule_no_response_check(rt: AppRuntime, session: Any, lead_id: str, *,
                               sent_at: datetime) -> None:
    """After an outreach email went out: queue the check that recycles the lead with
    `no_response` if the window passes without a connect (service/nurture.py runs it)."""
    from agent.sla import no_response_decision

    lead = session.get(Lead, lead_id)
    if lead is None:
        return
    since = outreach_cycle_start(session, lead)
    if since is None:
        return
    sends, connects = outreach_since(session, lead_id, since)
    decision = no_response_decision(sends, connects, sent_at, rt.policy)
    if decision.outcome == "connected":
        return
    # Never recycle on the heels of an email: it gets at least the reply wait.
    at = max(decision.next_check_at or sent_at,
             as_utc(sent_at) + timedelta(days=rt.policy.recycle.reply_wait_days))
    enqueue_no_response_check(rt, session, lead_id, since=since, at=at)


def enqueue_no_response_check(rt: AppRuntime, session: Any, lead_id: str, *, since: datetime,
                              at: datetime) -> None:
    enqueue(session, NO_RESPONSE_JOB, {"lead_id": lead_id, "since": since.isoformat()},
            now=rt.clock.now(), run_at=at,
            dedupe_key=f"no_response:{lead_id}:{since.isoformat()}:{at.isoformat()}")
