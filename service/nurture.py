"""Nurture enrolment after a lead is recycled: a durable job that enrols it in the track its
disposition names in the marketing-automation system (or records why it could not). And the
automatic recycle of an emailed lead that never answered (`check_no_response`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import func, select

from service.audit import audit
from service.jobs import RetryLater, enqueue
from service.runtime import AppRuntime
from store.tables import Handoff, Lead

# The stage a lead is in once outreach went out (service/handoffs.py, service/outbox.py), and
# the reason code of the automatic recycle.
CONTACTED = "contacted"
NO_RESPONSE: Final = "no_response"


def enqueue_enrolment(rt: AppRuntime, session: Any, lead_id: str, track: str, *, reason: str,
                      key: str) -> None:
    enqueue(session, "nurture_enrol", {"lead_id": lead_id, "track": track, "reason": reason,
                                       "key": key},
            now=rt.clock.now(), dedupe_key=f"enrol:{key}")


def enrol(rt: AppRuntime, payload: dict[str, Any]) -> None:
    """Enrol a lead in a pre-approved nurture track in the marketing-automation system."""
    from tools.marketing import EnrolmentError

    with rt.db.session() as session:
        lead = session.get(Lead, payload["lead_id"])
        if lead is None or not lead.email:
            return  # erased meanwhile
        email = lead.email
    target = rt.marketing
    status = "enrolled"
    if target is None:
        status = "not_enrolled: no marketing automation configured"
    else:
        try:
            target.enroll(lead_id=payload["lead_id"], email=email, track=payload["track"],
                          reason=payload["reason"], idempotency_key=payload["key"])
        except EnrolmentError as exc:
            if exc.transient:
                raise RetryLater(str(exc)) from exc
            status = f"failed: {exc}"
    with rt.db.session() as session:
        audit(session, rt, actor="system", action="nurture_enrolment",
              lead_id=payload["lead_id"], track=payload["track"], reason=payload["reason"],
              status=status)
    rt.metrics.nurture_enrolments.labels(track=payload["track"],
                                         status=status.split(":")[0]).inc()


def check_no_response(rt: AppRuntime, payload: dict[str, Any]) -> None:
    """The `no_response_check` timer (service/sla.py): recycle an emailed lead that never
    answered, exactly once per outreach cycle, or look again later.

    Nothing happens when the lead answered (a reply or a booked meeting), moved on (a person
    holds a new card, a disposition recycled or closed it) or was erased. The recycle applies
    the `no_response` disposition like a rep's reject does: stage, nurture track, suppression,
    owner released; the audit log records it as the system's, with the attempts counted. The
    CRM gets the mapping's `recycled` status (service/crm_writeback.py) and the former owner a
    notice (Slack DM, or email when Slack cannot reach them; service/notices.py).
    """
    from agent.qualification.intent import as_utc
    from agent.sla import no_response_decision
    from service.crm_writeback import on_recycled
    from service.notices import queue_recycle_notice
    from service.sla import enqueue_no_response_check, outreach_since

    now = rt.clock.now()
    since = as_utc(datetime.fromisoformat(payload["since"]))
    with rt.db.session() as session:
        lead = session.get(Lead, payload["lead_id"], with_for_update=not rt.db.is_sqlite)
        if lead is None or lead.erased_at is not None:
            return
        if lead.recycled_at is not None and as_utc(lead.recycled_at) >= since:
            return  # recycled already in this cycle: a replayed job acts once
        active = session.scalar(select(func.count()).select_from(Handoff).where(
            Handoff.lead_id == lead.id, Handoff.active.is_(True))) or 0
        if lead.stage != CONTACTED or active:
            return  # a person holds it again, or a disposition already moved it on
        sends, connects = outreach_since(session, lead.id, since)
        decision = no_response_decision(sends, connects, now, rt.policy)
        if decision.outcome == "wait" and decision.next_check_at is not None:
            enqueue_no_response_check(rt, session, lead.id, since=since,
                                      at=decision.next_check_at)
            return
        if decision.outcome != "recycle":
            return
        rule = rt.policy.dispositions[NO_RESPONSE]
        lead.stage = rule.stage
        lead.nurture_track = rule.nurture_track or None
        if rule.suppress_days:
            lead.suppressed_until = now + timedelta(days=rule.suppress_days)
            lead.suppression_reason = NO_RESPONSE
        former_owner = lead.owner
        if not rule.keep_owner:
            lead.owner = None
        lead.recycled_at = now
        lead.sla_due_at = None
        lead.updated_at = now
        audit(session, rt, actor="system", action="recycled", lead_id=lead.id,
              reason=NO_RESPONSE, attempts=decision.attempts, replies=decision.replies,
              first_attempt_at=since.isoformat(),
              days_since_first_attempt=(now - since).days, nurture_track=rule.nurture_track)
        rt.metrics.recycled.labels(NO_RESPONSE).inc()
        if rule.nurture_track:
            enqueue_enrolment(rt, session, lead.id, rule.nurture_track, reason=NO_RESPONSE,
                              key=f"no_response:{lead.id}:{since.isoformat()}")
        # No person decided: the CRM and the former owner hear it from here, once each.
        on_recycled(rt, session, lead.id, now=now)
        queue_recycle_notice(rt, session, lead_id=lead.id, since=since.isoformat(),
                             recipient=rt.roster.find(former_owner),
                             attempts=decision.attempts, kept_owner=rule.keep_owner)
