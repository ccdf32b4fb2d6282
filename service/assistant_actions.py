"""Executing an approved assistant proposal, once, through the existing service paths.

- draft_follow_up: a pending card for the lead is revised with the rep's instruction
  (`approvals.decide(revise)`); without an active handoff a new one starts the way the handoff
  path starts them (a Handoff row and its `run_handoff` job) and arrives as a normal card.
- reassign: a pending card is escalated to the new holder (`decide(escalate)`, which moves the
  card, the handoff and the lead); a lead without a card changes owner.
- snooze: the lead is suppressed until 09:00 on the day, in the rep's timezone.
- set_disposition: a pending card is rejected with the reason code (`decide(reject)`, which
  closes the handoff with the policy's disposition); a lead without a card gets the rule itself.

The proposal row says whether it ran: `executed_at` is written with the change where the change
is ours, right after it where another service function commits its own transaction.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from agent.policy import Member
from service.approvals import decide
from service.audit import audit
from service.errors import Conflict, NotFound, ServiceError
from service.ids import new_id
from service.jobs import enqueue
from service.leads import qualify_facts, read_lead_facts
from service.lifecycle import HANDOFF_START, ApprovalStatus
from service.nurture import enqueue_enrolment
from service.runtime import AppRuntime
from service.schemas import DecisionIn
from store.tables import Approval, AssistantProposal, Handoff, Lead

SNOOZE_HOUR = time(9, 0)
SNOOZE_REASON = "not_now"  # a hand-raise still overrides it, as the policy says for not_now


def execute(rt: AppRuntime, member: Member, proposal_id: str) -> str:
    """Run an approved proposal; a second call returns the first result without acting."""
    with rt.db.read() as session:
        row = session.get(AssistantProposal, proposal_id)
        if row is None:
            raise NotFound(f"proposal {proposal_id} not found")
        if row.executed_at is not None or row.status in ("executed", "failed"):
            return row.result or "Already done."
        if row.status != "approved":
            raise Conflict(f"proposal {proposal_id} is {row.status}, not approved")
        action, args, lead_id = row.action, dict(row.args), row.lead_id
    try:
        result = _ACTIONS[action](rt, member, lead_id or "", args)
        status = "executed"
    except ServiceError as exc:
        result, status = f"Couldn't do it: {exc.message}", "failed"
    with rt.db.session() as session:
        done: Any = session.execute(  # a CursorResult: DML has a rowcount
            update(AssistantProposal)
            .where(AssistantProposal.id == proposal_id, AssistantProposal.executed_at.is_(None))
            .values(status=status, executed_at=rt.clock.now(), result=result))
        if done.rowcount == 1:
            audit(session, rt, actor=member.key, action=f"assistant_{action}", lead_id=lead_id,
                  subject_id=proposal_id, status=status)
    rt.notify_work()
    return result


def _decision(action: str, member: Member, **fields: Any) -> DecisionIn:
    """A decision the rep approved through the assistant, made as the rep."""
    return DecisionIn.model_validate({"action": action, "actor": member.key,
                                      "note": "via the assistant", **fields})


def _pending_approval(rt: AppRuntime, lead_id: str) -> tuple[Handoff | None, Approval | None]:
    with rt.db.read() as session:
        handoff = session.scalar(select(Handoff).where(Handoff.lead_id == lead_id,
                                                       Handoff.active.is_(True)))
        approval = None if handoff is None else session.scalar(
            select(Approval).where(Approval.handoff_id == handoff.id,
                                   Approval.status == ApprovalStatus.PENDING.value))
        return handoff, approval


def _busy(handoff: Handoff) -> Conflict:
    return Conflict(f"a handoff for this lead is under way ({handoff.status}); try again when "
                    "its card is open")


def _draft_follow_up(rt: AppRuntime, member: Member, lead_id: str, args: dict[str, Any]) -> str:
    handoff, approval = _pending_approval(rt, lead_id)
    if approval is not None:
        instruction = args.get("instruction") or "Write a fresh follow-up."
        decide(rt, approval.id, _decision("revise", member, instruction=instruction))
        return "A new draft with your instruction is on its way as an approval card."
    if handoff is not None:
        raise _busy(handoff)
    return _start_handoff(rt, member, lead_id, args.get("instruction") or None)


def _start_handoff(rt: AppRuntime, member: Member, lead_id: str,
                   instruction: str | None) -> str:
    """A rep-requested handoff, started as process_lead starts one (row + run_handoff job).

    The rep's instruction rides in the graph's start state: written to the handoff's thread
    before the row commits, so `run_handoff` finds the run begun (as after a crash) and goes on
    from there with the instruction for the first draft."""
    from agent.sla import sla_due_at
    from service.sla import owner_timezone, schedule_sla_check

    facts = read_lead_facts(rt, lead_id)
    if facts is None:
        raise NotFound("the lead no longer exists")
    qualification = qualify_facts(rt, facts)
    if not qualification.needs_human:
        # The graph would close it as not qualified (and hand the lead to nurture): say so now.
        raise Conflict(f"the lead routes to {qualification.route} today, so the handoff graph "
                       "would not draft for it; nothing was started")
    now = rt.clock.now()
    due = sla_due_at(qualification.route, now, rt.policy, tz=owner_timezone(rt, member))
    handoff_id = new_id("ho")
    if instruction:
        # Outside the store transaction (one SQLite writer at a time). Should the transaction
        # fail, the thread stays an orphan no handoff ever names.
        from langgraph.constants import START

        rt.graph.update_state(
            {"configurable": {"thread_id": handoff_id}},
            {"handoff_id": handoff_id, "lead_id": lead_id, "assignee": member.key,
             "version": 0, "instruction": instruction}, as_node=START)
    with rt.db.session() as session:
        if session.scalar(select(Handoff.id).where(Handoff.lead_id == lead_id,
                                                   Handoff.active.is_(True))):
            raise Conflict("a handoff for this lead started a moment ago")
        handoff = Handoff(id=handoff_id, lead_id=lead_id, route=qualification.route,
                          status=HANDOFF_START.value,
                          assignee=member.key, active=True, trigger_event_id=None,
                          policy_version=rt.policy.version, sla_due_at=due, created_at=now,
                          first_signal_at=now)
        session.add(handoff)
        session.execute(update(Lead).where(Lead.id == lead_id).values(
            owner=member.key, stage="assigned", sla_due_at=due, updated_at=now))
        audit(session, rt, actor=member.key, action="handoff_started", lead_id=lead_id,
              subject_id=handoff.id, route=qualification.route, owner=member.key,
              reason="requested through the assistant")
        enqueue(session, "run_handoff", {"handoff_id": handoff.id}, now=now,
                dedupe_key=f"run_handoff:{handoff.id}")
        if due is not None:
            schedule_sla_check(rt, session, handoff, breach=1, at=due)
    rt.metrics.handoffs_started.labels(qualification.route).inc()
    return "Drafting started: the follow-up arrives as an approval card shortly."


def _reassign(rt: AppRuntime, member: Member, lead_id: str, args: dict[str, Any]) -> str:
    target = rt.roster.find(args["to"])
    if target is None:
        raise NotFound(f"{args['to']} is not on the team roster")
    handoff, approval = _pending_approval(rt, lead_id)
    if approval is not None:
        decide(rt, approval.id, _decision("escalate", member, escalate_to=target.key))
        return f"Reassigned to {target.name}: the card moves to them."
    if handoff is not None:
        raise _busy(handoff)
    with rt.db.session() as session:
        session.execute(update(Lead).where(Lead.id == lead_id).values(
            owner=target.key, updated_at=rt.clock.now()))
    return f"Reassigned to {target.name}."


def snooze_until(day: date, tz: str) -> datetime:
    """09:00 on `day` in `tz`, as an aware datetime (the store keeps it in UTC)."""
    return datetime.combine(day, SNOOZE_HOUR, tzinfo=ZoneInfo(tz))


def _snooze(rt: AppRuntime, member: Member, lead_id: str, args: dict[str, Any]) -> str:
    until = snooze_until(date.fromisoformat(args["until"]), args.get("timezone") or "UTC")
    with rt.db.session() as session:
        session.execute(update(Lead).where(Lead.id == lead_id).values(
            suppressed_until=until, suppression_reason=SNOOZE_REASON,
            updated_at=rt.clock.now()))
    return f"Snoozed until {until:%a %Y-%m-%d %H:%M} ({args.get('timezone') or 'UTC'})."


def _set_disposition(rt: AppRuntime, member: Member, lead_id: str, args: dict[str, Any]) -> str:
    code = args["reason_code"]
    handoff, approval = _pending_approval(rt, lead_id)
    if approval is not None:
        decide(rt, approval.id, _decision("reject", member, reason_code=code))
        return f"Disposition {code} recorded; the card is closed."
    if handoff is not None:
        raise _busy(handoff)
    rule = rt.policy.dispositions[code]  # type: ignore[index]
    now = rt.clock.now()
    with rt.db.session() as session:
        lead = session.get(Lead, lead_id)
        if lead is None:
            raise NotFound("the lead no longer exists")
        lead.stage, lead.updated_at = rule.stage, now
        lead.nurture_track = rule.nurture_track or None
        if rule.suppress_days:
            lead.suppressed_until = now + timedelta(days=rule.suppress_days)
            lead.suppression_reason = code
        if not rule.keep_owner:
            lead.owner = None
        if rule.stage == "recycled":
            lead.recycled_at = now
        if rule.nurture_track:
            enqueue_enrolment(rt, session, lead.id, rule.nurture_track, reason=code,
                              key=f"assistant:{lead.id}:{now.isoformat()}")
    return f"Disposition {code} recorded (stage {rule.stage})."


_ACTIONS = {"draft_follow_up": _draft_follow_up, "reassign": _reassign, "snooze": _snooze,
            "set_disposition": _set_disposition}
