"""Driving the handoff graph: the store-backed port its nodes use, and start / resume."""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import Executable, Table, bindparam, insert, select, update

from agent import hitl_protocol, runs
from agent.drafting import DraftRequest
from agent.drafting.inputs import draft_inputs
from agent.edit_pairs import EditPair
from agent.models import ContextPackage, Draft, Qualification
from agent.runs import RunStage
from agent.state import DecisionRecord, DeliveryOutcome, Outcome
from service import experiments, outbox
from service.approval_requests import approval_id_for, interrupt_request
from service.audit import audit
from service.content_check import checked_draft
from service.crm_writeback import on_card_opened as crm_on_card_opened
from service.edit_pairs import DEFAULT_MAX_AGE_DAYS, style_examples
from service.errors import NotFound
from service.jobs import RetryLater, enqueue
from service.leads import (
    LeadFacts,
    context_from_facts,
    qualify_facts,
    read_lead_facts,
)
from service.lifecycle import ApprovalStatus, HandoffStatus, sources, transition
from service.nurture import enqueue_enrolment
from service.runtime import AppRuntime
from store.tables import Approval, Decision, Event, Handoff, Lead

log = logging.getLogger(__name__)


class StoreHandoffPort:
    """The graph's window on the world, backed by the store. Every method is idempotent.

    One port serves one graph run, and reads the lead once for it: the qualify, package and
    draft nodes of a run work from the same facts (the package explains the verdict it was
    routed on), and whatever arrives later starts a new run or shows on the next card."""

    def __init__(self, rt: AppRuntime) -> None:
        self.rt = rt
        self._facts: dict[str, LeadFacts] = {}

    def _lead_facts(self, lead_id: str) -> LeadFacts | None:
        if lead_id not in self._facts:
            # With a model to draft: whether the holder has recent edits (style examples),
            # read with the facts instead of in a transaction of its own.
            since = (self.rt.clock.now() - timedelta(days=DEFAULT_MAX_AGE_DAYS)
                     if self.rt.settings.model_endpoint_configured else None)
            facts = read_lead_facts(self.rt, lead_id, edits_since=since)
            if facts is None:
                return None
            self._facts[lead_id] = facts
        return self._facts[lead_id]

    def qualify(self, lead_id: str) -> Qualification | None:
        facts = self._lead_facts(lead_id)
        # A threshold experiment's variant (band cut-off, ...) applies to this lead's verdict.
        return None if facts is None else qualify_facts(experiments.runtime_for(self.rt, lead_id),
                                                        facts)

    def context_package(self, lead_id: str, qualification: Qualification) -> ContextPackage:
        facts = self._lead_facts(lead_id)
        if facts is None:
            raise NotFound(f"lead {lead_id} not found")
        return context_from_facts(self.rt, facts, qualification)

    def draft(self, lead_id: str, context: ContextPackage, *, assignee: str,
              instruction: str | None, previous: Draft | None) -> Draft:
        facts = self._lead_facts(lead_id)
        if facts is None:
            raise LookupError(f"lead {lead_id} vanished while drafting")
        lead_profile = facts.profile
        member = self.rt.roster.find(assignee)
        request = DraftRequest(
            lead=lead_profile, context=context,
            sender_name=member.name if member else "The team",
            instruction=instruction, previous=previous,
            style_examples=self._style_examples(assignee, context, facts.holder_edits),
            # The lead's language and question, and two meeting times in the owner's hours.
            **draft_inputs(lead_profile, facts.signals, self.rt.policy, self.rt.clock.now(),
                           member.timezone if member else None))
        request = experiments.draft_request(self.rt, lead_id, request)  # a drafting variant
        written = checked_draft(self.rt, request, self.rt.drafter.draft(request))
        self.rt.metrics.drafts.labels(written.source).inc()
        # Belt and braces: whatever the drafter did, the recipient is the record's address.
        return written.model_copy(update={"to": lead_profile.email})

    def _style_examples(self, assignee: str, context: ContextPackage,
                        has_edits: dict[str, bool] | None = None) -> tuple[EditPair, ...]:
        """The rep's recent approved edits closest to this situation, for the model to imitate.

        Only a model can use them; retrieval problems never stop a draft."""
        if not self.rt.settings.model_endpoint_configured:
            return ()
        try:
            return tuple(style_examples(self.rt, assignee, context.why_now, k=3, sync=False,
                                        has_edits=has_edits))
        except Exception:
            log.warning("style examples unavailable for %s", assignee, exc_info=True)
            return ()

    def open_approval(self, handoff_id: str, version: int, *, assignee: str, draft: Draft,
                      context: ContextPackage) -> tuple[str, dict[str, Any]]:
        rt = self.rt
        now = rt.clock.now()
        approval_id = approval_id_for(handoff_id, version)
        stmt = _open_statements()
        with rt.db.session() as session:
            conn = session.connection()  # the prebuilt statements need no ORM execution
            existing = conn.execute(stmt.existing, {"approval_id": approval_id}).first()
            if existing is not None:
                return approval_id, existing.request
            handoff = conn.execute(stmt.handoff, {"handoff": handoff_id}).first()
            if handoff is None:
                raise LookupError(f"handoff {handoff_id} vanished")
            changes = _changes_since_previous_card(session, handoff, version)
            escalation = _escalation_into(session, handoff_id, version)
            if escalation is not None:
                draft = _signed_as(rt, draft, previous=escalation["from"], holder=assignee)
            request = interrupt_request(approval_id, version, draft, context, rt, changes,
                                        escalation)
            if version > 1:
                session.execute(update(Approval).where(
                    Approval.handoff_id == handoff_id,
                    Approval.status.in_(sources(ApprovalStatus.SUPERSEDED)),
                    Approval.version < version).values(status=ApprovalStatus.SUPERSEDED.value))
            # Prebuilt Core statements, executed in order: no ORM unit of work to flush.
            conn.execute(stmt.insert_approval, {
                "id": approval_id, "handoff_id": handoff_id, "lead_id": handoff.lead_id,
                "version": version, "assignee": assignee,
                "status": ApprovalStatus.PENDING.value, "channel": draft.channel,
                "to_email": draft.to, "subject": draft.subject, "body": draft.body,
                "draft_source": draft.source, "draft_note": draft.note,
                "prompt_version": draft.prompt_version,
                "context": context.model_dump(mode="json"), "request": request,
                "policy_version": rt.policy.version, "created_at": now,
                "sla_due_at": handoff.sla_due_at, "decided_at": None, "decided_by": None,
            })
            experiments.on_draft(rt, session, approval_id, handoff.lead_id, now)
            crm_on_card_opened(rt, session, handoff, approval_id,  # type: ignore[arg-type]
                               version, assignee, now=now)
            first_card = handoff.carded_at is None
            first_signal_at = handoff.first_signal_at
            conn.execute(stmt.card_handoff, {
                "handoff": handoff_id, "assignee": assignee,
                "status": transition(handoff.status, HandoffStatus.AWAITING_APPROVAL),
                "carded_at": now if first_card else handoff.carded_at})
            conn.execute(stmt.lead_owner, {"lead": handoff.lead_id, "owner": assignee})
            audit(session, rt, actor="system", action="approval_requested",
                  lead_id=handoff.lead_id, subject_id=approval_id, version=version,
                  assignee=assignee, draft_source=draft.source)
            if rt.settings.slack_enabled:
                # Posting the card is a job in this same transaction: durable and retried.
                enqueue(session, "slack_post_approval", {"approval_id": approval_id}, now=now,
                        dedupe_key=f"slack_post:{approval_id}")
        if first_card and first_signal_at:
            rt.metrics.signal_to_card.observe((now - first_signal_at).total_seconds())
        return approval_id, request

    def decision_for(self, approval_id: str) -> DecisionRecord | None:
        with self.rt.db.read() as session:
            row = session.scalar(select(Decision).where(Decision.approval_id == approval_id))
            if row is None:
                return None
            return DecisionRecord(decision_id=row.id, approval_id=approval_id,
                                  action=row.action, actor=row.actor,  # type: ignore[arg-type]
                                  payload=dict(row.payload),
                                  outbox_id=row.payload.get("outbox_id"))

    def presend_blocks(self, outbox_id: str) -> list[str]:
        return outbox.presend_blocks(self.rt, outbox_id)

    def deliver(self, outbox_id: str) -> DeliveryOutcome:
        return outbox.deliver(self.rt, outbox_id)

    def close(self, handoff_id: str, outcome: Outcome, *, reason_code: str | None = None,
              detail: str | None = None) -> None:
        close_handoff(self.rt, handoff_id, outcome, reason_code=reason_code, detail=detail)


class _OpenStatements(NamedTuple):
    existing: Executable
    handoff: Executable
    insert_approval: Executable
    card_handoff: Executable
    lead_owner: Executable


@cache
def _open_statements() -> _OpenStatements:
    """open_approval's statements, built once (building them cost about as much as running
    them): the approval's existence, the handoff as a row (not an ORM load), the approval's
    row, the handoff's and the lead's new holder."""
    approvals: Table = Approval.__table__  # type: ignore[assignment]
    handoffs: Table = Handoff.__table__  # type: ignore[assignment]
    leads: Table = Lead.__table__  # type: ignore[assignment]
    return _OpenStatements(
        existing=select(approvals.c.request).where(approvals.c.id == bindparam("approval_id")),
        handoff=select(handoffs.c.id, handoffs.c.lead_id, handoffs.c.status, handoffs.c.assignee,
                       handoffs.c.carded_at, handoffs.c.first_signal_at, handoffs.c.sla_due_at
                       ).where(handoffs.c.id == bindparam("handoff")),
        insert_approval=insert(approvals),
        card_handoff=update(handoffs).where(handoffs.c.id == bindparam("handoff")).values(
            status=bindparam("status"), assignee=bindparam("assignee"),
            carded_at=bindparam("carded_at")),
        lead_owner=update(leads).where(leads.c.id == bindparam("lead")).values(
            owner=bindparam("owner")),
    )


def _changes_since_previous_card(session: Any, handoff: Any,
                                 version: int) -> list[dict[str, Any]]:
    """Signals that arrived since the previous version's card: what a new holder should know."""
    if version <= 1:
        return []
    previous = session.scalar(select(Approval.created_at).where(
        Approval.handoff_id == handoff.id, Approval.version == version - 1))
    if previous is None:
        return []
    rows = session.execute(
        select(Event.event_id, Event.type, Event.occurred_at)
        .where(Event.lead_id == handoff.lead_id, Event.received_at > previous)
        .order_by(Event.occurred_at.desc()).limit(10)).all()
    return [{"event_id": r.event_id, "type": r.type, "occurred_at": r.occurred_at.isoformat()}
            for r in rows]


def _escalation_into(session: Any, handoff_id: str, version: int) -> dict[str, Any] | None:
    """When version `version` exists because the previous one was escalated: who held it,
    who escalated, and their note, for the new holder's card."""
    if version <= 1:
        return None
    row = session.execute(
        select(Approval.assignee, Decision.actor, Decision.payload, Decision.created_at)
        .join(Decision, Decision.approval_id == Approval.id)
        .where(Approval.handoff_id == handoff_id, Approval.version == version - 1,
               Decision.action == "escalate")).first()
    if row is None:
        return None
    return {"from": row.assignee, "by": row.actor, "note": (row.payload or {}).get("note"),
            "at": row.created_at.isoformat()}


def _signed_as(rt: AppRuntime, draft: Draft, *, previous: str, holder: str) -> Draft:
    """An escalated draft goes out as its new holder (the From address is the holder's), so
    the sign-off is theirs too: swap the previous holder's name on the closing line."""
    before, after = rt.roster.find(previous), rt.roster.find(holder)
    if before is None or after is None or before.key == after.key:
        return draft
    lines = draft.body.rstrip().split("\n")
    if lines and lines[-1].strip() == before.name:
        lines[-1] = lines[-1].replace(before.name, after.name)
        return draft.model_copy(update={"body": "\n".join(lines)})
    return draft


def close_handoff(rt: AppRuntime, handoff_id: str, outcome: Outcome, *,
                  reason_code: str | None = None, detail: str | None = None) -> None:
    """End a handoff and apply its disposition: stage, owner, suppression, nurture track."""
    now = rt.clock.now()
    with rt.db.session() as session:
        handoff = session.get(Handoff, handoff_id)
        if handoff is None or not handoff.active:
            return  # erased, or already closed by an earlier run of this node
        lead = session.get(Lead, handoff.lead_id)
        handoff.active = False
        handoff.closed_at = now
        handoff.status = transition(handoff.status, HandoffStatus.CLOSED)
        handoff.outcome = f"rejected:{reason_code}" if outcome == "rejected" else outcome
        handoff.outcome_detail = detail
        if lead is not None:
            lead.sla_due_at = None
            lead.updated_at = now
            if outcome == "rejected" and reason_code:
                rule = rt.policy.dispositions[reason_code]  # type: ignore[index]
                lead.stage = rule.stage
                lead.nurture_track = rule.nurture_track or None
                if rule.suppress_days:
                    lead.suppressed_until = now + timedelta(days=rule.suppress_days)
                    lead.suppression_reason = reason_code
                if not rule.keep_owner:
                    lead.owner = None
                if rule.stage == "recycled":
                    lead.recycled_at = now
                    rt.metrics.recycled.labels(reason_code).inc()
                if rule.nurture_track:
                    enqueue_enrolment(rt, session, lead.id, rule.nurture_track,
                                      reason=reason_code, key=f"recycle:{handoff_id}")
            elif outcome == "sent":
                lead.stage = "contacted"
            elif outcome in ("not_sent", "retrying"):
                lead.stage = "approved"
            elif outcome in ("blocked", "failed"):
                lead.stage = outcome
            elif outcome == "not_qualified":
                lead.stage = "nurture"
                lead.owner = None
        audit(session, rt, actor="system", action="handoff_closed", lead_id=handoff.lead_id,
              subject_id=handoff_id, outcome=handoff.outcome, detail=detail)


def run_handoff(rt: AppRuntime, handoff_id: str) -> None:
    """Start the graph for a handoff, or continue it after a crash; no-op when it waits."""
    at = runs.position(rt.graph, handoff_id)
    if at.stage is RunStage.NOT_STARTED:
        # The handoff as a row, in a read-only Core transaction: no Session, no ORM load.
        with rt.db.read_connection() as conn:
            handoff = conn.execute(_run_statement(), {"handoff": handoff_id}).first()
        if handoff is None or not handoff.active:
            return
        start = {"handoff_id": handoff_id, "lead_id": handoff.lead_id,
                 "assignee": handoff.assignee or "", "version": 0}
        runs.start(rt.graph, handoff_id, start, context=StoreHandoffPort(rt))
    elif at.stage is RunStage.CUT_SHORT:
        runs.rerun(rt.graph, handoff_id, context=StoreHandoffPort(rt))


@cache
def _run_statement() -> Executable:
    """What starting a handoff's run reads of it, built once."""
    handoffs: Table = Handoff.__table__  # type: ignore[assignment]
    return select(handoffs.c.lead_id, handoffs.c.assignee, handoffs.c.active).where(
        handoffs.c.id == bindparam("handoff"))


def resume_handoff(rt: AppRuntime, handoff_id: str, decision_id: str) -> None:
    """Resume the graph with a recorded decision, exactly once per decision."""
    with rt.db.read() as session:
        decision = session.get(Decision, decision_id)
        if decision is None or decision.applied_at is not None:
            return
        to_email = session.scalar(select(Approval.to_email)
                                  .where(Approval.id == decision.approval_id))
    at = runs.position(rt.graph, handoff_id)
    approval_version = int(decision.approval_id.rsplit("_v", 1)[1])
    if at.stage is RunStage.CUT_SHORT:
        # Stopped between pauses: finished to its pause first, which is this approval's.
        runs.rerun(rt.graph, handoff_id, context=StoreHandoffPort(rt))
        at = runs.position(rt.graph, handoff_id)
    if at.waits_on(approval_version):
        # The resume value is the recorded decision as a HITLResponse (what Studio or Agent
        # Chat UI would send); the node still decides from the store's row, not from it.
        response = hitl_protocol.response_for(decision.action, decision.payload, to=to_email)
        runs.resume(rt.graph, handoff_id, response, context=StoreHandoffPort(rt))
    elif at.stage in (RunStage.NOT_STARTED, RunStage.CUT_SHORT):
        # The run that opened this approval has not saved its pause yet (a run is saved when
        # it pauses, `runs.DURABILITY`): it is still on its way there, or a crash stopped it
        # and its `run_handoff` job runs it again. The decision waits for it; recording it as
        # applied now would leave the run waiting on a decision already used up.
        raise RetryLater(f"handoff {handoff_id}: its run has not reached the approval of "
                         f"version {approval_version} yet", retry_after=1)
    elif at.stage is RunStage.WAITING and (at.version or 0) < approval_version:
        raise RuntimeError(f"handoff {handoff_id} waits on version {at.version}, "
                           f"decision {decision_id} is for {approval_version}")
    # Otherwise the graph already moved past this decision (a crash after resuming, before
    # `applied_at` was written): nothing left to do but record that.
    with rt.db.session() as session:
        session.execute(update(Decision).where(Decision.id == decision_id)
                        .values(applied_at=rt.clock.now()))
