"""Momentum rescue: what happens when an SLA check fires (`sla_check` jobs, see service/sla.py).

The first breach reminds the holder; the second reassigns the lead (a `reassign` decision the
system records like a person's, so the graph re-packages and redrafts for the new owner) and
tells the manager. The handler is idempotent (the handoff row records how many breaches were
handled), so a job that runs again after a crash acts once.

Slack carries the reminder and the escalation (`slack_sla_*` jobs); a holder or manager Slack
cannot reach (no Slack id, or the Slack surface off) gets them by email instead, once
(service/notices.py, the `deliver_email_notice` job, re-exported here as `deliver_notice` for
the worker).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select

from agent.policy import Roster
from service.approvals import record_decision
from service.audit import audit
from service.errors import Conflict
from service.experiments import runtime_for_handoff
from service.jobs import RetryLater, enqueue
from service.leads import profile, routing_load
from service.lifecycle import ApprovalStatus, HandoffStatus
from service.notices import deliver_notice as deliver_notice  # the worker's handler
from service.notices import queue_sla_notice
from service.nurture import enqueue_enrolment
from service.runtime import AppRuntime
from service.sla import owner_timezone, restart_sla, schedule_sla_check
from store.tables import Approval, Handoff, Lead

log = logging.getLogger(__name__)


def check_sla(rt: AppRuntime, payload: dict[str, Any]) -> None:
    """Fire one SLA timer: first breach reminds, second escalates and reassigns."""
    from agent.sla import sla_due_at

    # The policy as the handoff's lead sees it (a threshold experiment's SLA, bands, ...):
    # the second breach's time and the reassignment follow the lead's variant.
    rt = runtime_for_handoff(rt, payload["handoff_id"])
    now = rt.clock.now()
    breach = int(payload["breach"])
    with rt.db.session() as session:
        handoff = session.get(Handoff, payload["handoff_id"],
                              with_for_update=not rt.db.is_sqlite)
        if handoff is None or not handoff.active or handoff.sla_due_at is None:
            return
        if handoff.sla_due_at.isoformat() != payload["due"] or handoff.sla_breaches >= breach:
            return  # the SLA was reset (reassigned) or this breach was handled already
        approval = session.scalar(select(Approval).where(
            Approval.handoff_id == handoff.id, Approval.status == ApprovalStatus.PENDING.value))
        if approval is None:
            if handoff.status in _NEXT_CARD_COMING:
                raise RetryLater("the next card is still being drafted")
            return  # decided: the human acted in time or just now
        rule = rt.policy.rescue
        owner = rt.roster.find(handoff.assignee)
        handoff.sla_breaches = breach
        rt.metrics.sla_breaches.labels(route=handoff.route, stage=str(breach)).inc()
        if breach == 1:
            handoff.reminded_at = now
            audit(session, rt, actor="system", action="sla_reminder", lead_id=handoff.lead_id,
                  subject_id=approval.id, owner=handoff.assignee,
                  due=payload["due"])
            _notify(rt, session, "slack_sla_reminder", approval.id, breach, now)
            queue_sla_notice(rt, session, step="reminder", handoff=handoff,
                             approval_id=approval.id, recipient=owner, due=payload["due"],
                             breach=breach)
            if rule.reassign_on_second_breach:
                second = sla_due_at(handoff.route, now, rt.policy,  # type: ignore[arg-type]
                                    tz=owner_timezone(rt, owner)) or now
                schedule_sla_check(rt, session, handoff, breach=2, at=second)
            return
        if not rule.reassign_on_second_breach:
            return
        _reassign(rt, session, handoff, approval, now)
    rt.notify_work()


# A card is on its way (the first draft, a revise, an escalation's or a reassignment's): the
# timer waits for it rather than being lost (the check then finds the new card pending).
_NEXT_CARD_COMING = frozenset({HandoffStatus.DRAFTING, HandoffStatus.REVISING,
                               HandoffStatus.ESCALATED, HandoffStatus.REASSIGNED})


def _reassign(rt: AppRuntime, session: Any, handoff: Handoff, approval: Approval,
              now: datetime) -> None:
    from agent.routing import choose_owner
    from service.leads import qualify_lead

    lead = session.get(Lead, handoff.lead_id)
    breached_due = handoff.sla_due_at.isoformat() if handoff.sla_due_at else ""
    qualification, _ = qualify_lead(rt, session, lead)
    if qualification.route == "disqualified":
        _close_disqualified(rt, session, approval,
                            [d.code for d in qualification.disqualifiers], now)
        return
    # Not back to anyone who held it already (the rep who escalated it, a manager who let it
    # lapse): each had their window.
    held = set(session.scalars(select(Approval.assignee)
                               .where(Approval.handoff_id == handoff.id))) | {handoff.assignee}
    others = Roster(members=[m for m in rt.roster.members if m.key not in held])
    manager = rt.roster.managers_on_duty()[0]
    # Weighed like any assignment: the cap on open cards, then the round robin.
    new_owner = choose_owner(profile(lead), qualification, others, rt.policy,
                             *routing_load(rt, session)) or manager
    try:
        record_decision(rt, session, approval, "reassign", "system", {
            "escalate_to": new_owner.key, "manager": manager.key, "reason": "sla_breach",
            "previous_owner": handoff.assignee}, now=now)
    except Conflict:
        return  # the rep decided at the same moment; their decision stands
    previous = handoff.assignee
    handoff.escalated_at = now
    handoff.assignee = new_owner.key
    lead.owner = new_owner.key
    restart_sla(rt, session, handoff, new_owner, now)
    audit(session, rt, actor="system", action="sla_escalated", lead_id=lead.id,
          subject_id=approval.id, previous_owner=previous, new_owner=new_owner.key,
          manager=manager.key)
    _notify(rt, session, "slack_sla_escalation", approval.id, 2, now)
    queue_sla_notice(rt, session, step="escalation", handoff=handoff, approval_id=approval.id,
                     recipient=manager, due=breached_due, breach=2, previous_owner=previous,
                     new_owner=new_owner.key)
    if handoff.route in rt.policy.rescue.nurture_routes:
        enqueue_enrolment(rt, session, lead.id, rt.policy.rescue.nurture_track,
                          reason="sla_rescue", key=f"rescue:{handoff.id}")


def _close_disqualified(rt: AppRuntime, session: Any, approval: Approval,
                        disqualifiers: list[str], now: datetime) -> None:
    """The lead became disqualified while its card waited (a later event: "Marketing
    Intern"): no one else is given it; the system rejects the card as not ICP, which recycles
    the lead as a person's rejection would, and the card says why."""
    try:
        record_decision(rt, session, approval, "reject", "system", {
            "reason_code": "not_icp", "reason": "sla_breach",
            "note": f"disqualified since the card was drafted: {', '.join(disqualifiers)}"},
            now=now)
    except Conflict:
        return  # the rep decided at the same moment; their decision stands
    audit(session, rt, actor="system", action="sla_closed_disqualified",
          lead_id=approval.lead_id, subject_id=approval.id, disqualifiers=disqualifiers)


def _notify(rt: AppRuntime, session: Any, kind: str, approval_id: str, breach: int,
            now: datetime) -> None:
    if rt.settings.slack_enabled:
        enqueue(session, kind, {"approval_id": approval_id, "breach": breach}, now=now,
                dedupe_key=f"{kind}:{approval_id}:{breach}")
