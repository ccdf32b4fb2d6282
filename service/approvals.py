"""Human decisions: the one function every surface (API, Slack, CLI, evals) calls to decide."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parseaddr
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from agent.guardrails import content_hash
from agent.policy import Member
from service.audit import audit
from service.crm_writeback import on_decision as crm_on_decision
from service.errors import Conflict, Forbidden, InvalidInput, NotFound
from service.experiments import on_decision as experiments_on_decision
from service.identity import Principal, acting_member
from service.ids import new_id
from service.jobs import enqueue
from service.lifecycle import (
    HANDOFF_STATUS_AFTER,
    STATUS_AFTER,
    ApprovalStatus,
    OutboxStatus,
    sources,
    transition,
)
from service.outbox_views import (
    RESUME_JOB,
    preparing_jobs,
    preparing_send_state,
    redraw_card,
    send_state,
)
from service.runtime import AppRuntime
from service.schemas import DecisionIn
from service.sla import restart_sla
from store.tables import Approval, Decision, Handoff, Lead, OutboxMessage


def decision_view(decision: Decision | None) -> dict[str, Any] | None:
    """The recorded decision as people read it: what, who, when, and why."""
    if decision is None:
        return None
    payload = decision.payload or {}
    return {"decision_id": decision.id, "action": decision.action, "actor": decision.actor,
            "at": decision.created_at, "reason_code": payload.get("reason_code"),
            "note": payload.get("note"), "instruction": payload.get("instruction"),
            "escalate_to": payload.get("escalate_to"), "edited": payload.get("edited"),
            "via": payload.get("via")}


def approval_view(approval: Approval, decision: Decision | None = None,
                  message: OutboxMessage | None = None) -> dict[str, Any]:
    send_status, send_detail, next_attempt_at = send_state(message)
    return {
        "approval_id": approval.id, "lead_id": approval.lead_id,
        "handoff_id": approval.handoff_id, "version": approval.version,
        "assignee": approval.assignee, "status": approval.status,
        "draft": {"channel": approval.channel, "to": approval.to_email,
                  "subject": approval.subject, "body": approval.body,
                  "source": approval.draft_source, "note": approval.draft_note},
        "context": approval.context, "request": approval.request,
        "created_at": approval.created_at, "sla_due_at": approval.sla_due_at,
        "decided_at": approval.decided_at, "decided_by": approval.decided_by,
        "policy_version": approval.policy_version,
        "decision": decision_view(decision),
        "send_status": send_status, "send_detail": send_detail,
        "next_attempt_at": next_attempt_at,
        "outbox_id": message.id if message is not None else None,
        # For the card's "waiting since ..." / "sent at ..." line (not part of the API model).
        "failing_since": message.failing_since if message is not None else None,
        "sent_at": message.sent_at if message is not None else None,
        # Set while the decision's job fails before the outbox (`_with_preparing_sends`), and
        # the parked job to retry.
        "preparing": False, "preparing_job_id": None,
    }


def _with_preparing_sends(session: Session, rows: list[Any]) -> list[dict[str, Any]]:
    """`approval_view` of each (approval, decision, message) row. An approved message stays
    queued until its decision's `resume_handoff` job has run the graph to the send; while that
    job fails or once it is parked, the approval says so (`outbox_views.preparing_send_state`)
    instead of "queued"."""
    views = [approval_view(a, d, m) for a, d, m in rows]
    preparing = {d.id: view for (a, d, m), view in zip(rows, views, strict=True)
                 if d is not None and d.applied_at is None and m is not None
                 and m.status == OutboxStatus.PENDING.value}
    if preparing:
        for job in session.execute(preparing_jobs(list(preparing))):
            state = preparing_send_state(job)
            if state is not None:
                preparing[str(job.payload.get("decision_id"))].update(state)
    return views


def _with_decision_and_send(query: Any) -> Any:
    return (query.add_columns(Decision, OutboxMessage)
            .outerjoin(Decision, Decision.approval_id == Approval.id)
            .outerjoin(OutboxMessage, OutboxMessage.approval_id == Approval.id))


def list_approvals(rt: AppRuntime, *, status: str | None = ApprovalStatus.PENDING.value,
                   assignee: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    with rt.db.read() as session:
        query = _with_decision_and_send(select(Approval)).order_by(
            Approval.created_at, Approval.id).limit(limit)
        if status:
            query = query.where(Approval.status == status)
        if assignee:
            member = rt.roster.find(assignee)
            query = query.where(Approval.assignee == (member.key if member else assignee))
        return _with_preparing_sends(session, list(session.execute(query)))


def get_approval(rt: AppRuntime, approval_id: str) -> dict[str, Any]:
    with rt.db.read() as session:
        row = session.execute(_with_decision_and_send(select(Approval))
                              .where(Approval.id == approval_id)).first()
        if row is None:
            raise NotFound(f"approval {approval_id} not found")
        return _with_preparing_sends(session, [row])[0]


def authorize(rt: AppRuntime, actor: str | Member | None, approval: Approval) -> Member:
    """Only the assignee or a manager from the roster may decide."""
    member = actor if isinstance(actor, Member) else rt.roster.find(actor)
    if member is None:
        if not actor:
            raise InvalidInput("actor is required (Slack id or email)", field="actor")
        raise Forbidden(f"{actor} is not on the team roster")
    if member.role != "manager" and member.key != approval.assignee:
        raise Forbidden(f"{member.name} is not the assignee of this approval "
                        "(only the assignee or a manager may decide)")
    return member


def _escalation_target(rt: AppRuntime, requested: str | None, current: str) -> Member:
    """Who an escalation hands the card to: the one asked for, else a manager on duty. Not its
    holder (escalating to oneself only restarted the SLA, so no breach was ever rescued or
    told), and not the support team, who hold conversations, not sales approvals."""
    if requested:
        member = rt.roster.find(requested)
        if member is None:
            raise InvalidInput(f"escalate_to {requested!r} is not on the team roster",
                               field="escalate_to")
        if member.key == current:
            raise InvalidInput(f"escalate_to: {member.name} already holds this approval; "
                               "escalate to someone else (or leave it empty for a manager)",
                               field="escalate_to")
        if member.role == "support":
            raise InvalidInput(f"escalate_to: {member.name} is on the support team; escalate "
                               "to a rep or a manager", field="escalate_to")
        return member
    return rt.roster.managers_on_duty(besides=current)[0]


def decide(rt: AppRuntime, approval_id: str, decision: DecisionIn,
           principal: Principal | None = None) -> dict[str, Any]:
    """Record a decision atomically (the first one wins), then let the worker resume the graph.

    `principal`: who is calling (service.identity). A personal token decides as its member
    (`decision.actor`, if given, must be that member); the service token must name `actor`
    and the decision records `via: service_token`. None: a surface that identified the person
    itself (Slack, the evals) and put them in `decision.actor`.

    Raises NotFound (404), Forbidden (403), Conflict (409: decided or superseded) or
    InvalidInput (422). Nothing is written unless everything checks out.
    """
    now = rt.clock.now()
    acting = acting_member(rt, principal, decision.actor) if principal is not None else None
    with rt.db.session() as session:
        approval = session.get(Approval, approval_id, with_for_update=not rt.db.is_sqlite)
        if approval is None:
            raise NotFound(f"approval {approval_id} not found")
        member = authorize(rt, acting or decision.actor, approval)
        if approval.status != ApprovalStatus.PENDING:
            raise Conflict(_conflict_message(approval))
        payload: dict[str, Any] = {"note": decision.note} if decision.note else {}
        via = principal.audit_detail() if principal is not None else {}
        payload.update(via)
        if decision.action == "escalate":
            target = _escalation_target(rt, decision.escalate_to, approval.assignee)
            payload["escalate_to"] = target.key
        elif decision.action == "revise":
            payload["instruction"] = decision.instruction
        elif decision.action == "reject":
            payload["reason_code"] = decision.reason_code

        if decision.action in ("approve", "edit"):
            subject = (decision.subject or approval.subject) if decision.action == "edit" \
                else approval.subject
            body = decision.body if decision.action == "edit" and decision.body else approval.body
            payload.update(subject=subject, body=body, content_hash=content_hash(subject, body),
                           edited=decision.action == "edit")

        decision_id = record_decision(rt, session, approval, decision.action, member.key,
                                      payload, now=now)
        if decision.action == "escalate":
            _hand_the_sla_over(rt, session, approval, target, now)
        if decision.action in ("approve", "edit"):
            # The outbox row commits with the decision: approved means queued, exactly once.
            payload["outbox_id"] = _queue_outbox(rt, session, approval, member,
                                                 payload["subject"], payload["body"], now)
            session.get(Decision, decision_id).payload = dict(payload)  # type: ignore[union-attr]
        if decision.action == "edit":
            # The rep's edit becomes a style example for their next drafts (tools/style_examples).
            enqueue(session, "sync_style_examples", {}, now=now, dedupe_key="sync_style_examples")
        session.flush()
        session.refresh(approval)
        view = approval_view(approval, session.get(Decision, decision_id),
                             session.scalar(select(OutboxMessage).where(
                                 OutboxMessage.approval_id == approval.id)))
    rt.metrics.decisions.labels(decision.action).inc()
    _observe_decision(rt, view, now)
    rt.notify_work()
    return view


def _hand_the_sla_over(rt: AppRuntime, session: Any, approval: Approval, target: Member,
                       now: datetime) -> None:
    """The person escalated to holds the lead from now, with an SLA window of their own."""
    handoff = session.get(Handoff, approval.handoff_id)
    if handoff is not None and handoff.active and handoff.sla_due_at is not None:
        restart_sla(rt, session, handoff, target, now)


def _leave_awaiting_approval(session: Any, approval: Approval, action: str,
                             now: datetime) -> None:
    """The handoff and lead show the decision at once, not when the graph gets to it: an
    approved lead is `approved` while its email is queued or retrying."""
    handoff = session.get(Handoff, approval.handoff_id)
    if handoff is not None and handoff.active:
        handoff.status = transition(handoff.status, HANDOFF_STATUS_AFTER[action])
    if action in ("approve", "edit"):
        session.execute(update(Lead).where(Lead.id == approval.lead_id,
                                           Lead.stage.in_(("new", "assigned")))
                        .values(stage="approved", updated_at=now))


def record_decision(rt: AppRuntime, session: Any, approval: Approval, action: str, actor: str,
                    payload: dict[str, Any], *, now: datetime) -> str:
    """The one place a decision is written: first wins, then the graph resume is queued.

    Used by `decide()` for people and by the SLA rescue (service/rescue.py) for the system's
    own reassignment.
    Raises Conflict when another decision got there first.
    """
    # The conditional UPDATE is the race arbiter: of concurrent deciders, one sees rowcount 1.
    # Its WHERE is the lifecycle's: only a status the decision may follow (pending).
    after = STATUS_AFTER[action]
    won = session.execute(
        update(Approval)
        .where(Approval.id == approval.id, Approval.status.in_(sources(after)))
        .values(status=after.value, decided_at=now, decided_by=actor)
    ).rowcount
    if won != 1:
        raise Conflict("this approval was decided a moment ago by someone else")
    decision_id = new_id("dec")
    session.add(Decision(id=decision_id, approval_id=approval.id, handoff_id=approval.handoff_id,
                         action=action, actor=actor, payload=payload,
                         policy_version=rt.policy.version, created_at=now))
    session.flush()
    experiments_on_decision(session, approval, action, payload, now=now)  # per variant
    _leave_awaiting_approval(session, approval, action, now)  # a person's or the SLA rescue's
    via = {k: payload[k] for k in ("via", "token_id") if payload.get(k) is not None}
    audit(session, rt, actor=actor, action=f"decision_{action}", lead_id=approval.lead_id,
          subject_id=approval.id, version=approval.version,
          reason_code=payload.get("reason_code"), **via)
    enqueue(session, RESUME_JOB,
            {"handoff_id": approval.handoff_id, "decision_id": decision_id}, now=now,
            dedupe_key=f"resume:{decision_id}")
    crm_on_decision(rt, session, approval, action, payload, now=now)  # CRM write-back
    redraw_card(rt, session, approval.id, now=now)
    return decision_id


def _observe_decision(rt: AppRuntime, view: dict[str, Any], now: datetime) -> None:
    """Speed and SLA attainment of a human decision, by band and rep."""
    if view.get("created_at"):
        rt.metrics.card_to_decision.observe((now - view["created_at"]).total_seconds())
    due = view.get("sla_due_at")
    if due is not None:
        band = (view.get("context") or {}).get("band", "?")
        rt.metrics.sla_decisions.labels(band=band, rep=view["assignee"],
                                        met=str(now <= due).lower()).inc()


def _conflict_message(approval: Approval) -> str:
    if approval.status == ApprovalStatus.SUPERSEDED:
        return f"version {approval.version} was superseded by a newer draft; decide the newest"
    when = approval.decided_at.astimezone(UTC).isoformat() if approval.decided_at else "earlier"
    return f"already {approval.status} by {approval.decided_by} at {when}"


def _queue_outbox(rt: AppRuntime, session: Any, approval: Approval, approver: Member,
                  subject: str, body: str, now: Any) -> str:
    """Freeze the approved message. The recipient is read from the lead record, nowhere else."""
    lead = session.get(Lead, approval.lead_id)
    handoff = session.get(Handoff, approval.handoff_id)
    owner = rt.roster.find(handoff.assignee if handoff else None) or approver
    from_email = owner.email or rt.settings.from_email
    domain = parseaddr(rt.settings.from_email)[1].rpartition("@")[2] or "localhost"
    outbox_id = new_id("out")
    session.add(OutboxMessage(
        id=outbox_id, approval_id=approval.id, lead_id=approval.lead_id,
        to_email=lead.email if lead else None, from_email=from_email, subject=subject,
        body=body, message_id=f"<{outbox_id}@{domain}>",
        status=OutboxStatus.PENDING.value, attempts=0,
        created_at=now,
    ))
    return outbox_id
