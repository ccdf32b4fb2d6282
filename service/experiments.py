"""Running experiments (issue 19): a lead's variant, fixed in the store at first use, applied to
its drafts and thresholds, and recorded with every draft and decision.

The hooks (one line each in service/handoffs.py and service/approvals.py) change words or a
number only: who must approve, and that nothing is sent without it, is never a variant's to
change. Outcomes after the send (replies, meetings, unsubscribes) are recorded at ingest by
`service.experiments_outcomes`; the comparison is `service.experiments_stats`.
"""

from __future__ import annotations

import copy
import difflib
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.experiments import (
    Experiment,
    Variant,
    applies,
    assign,
    running,
    template_slot,
    with_thresholds,
)
from service.audit import audit
from service.errors import Conflict, NotFound
from service.ids import new_id
from service.jobs import insert_ignoring_conflicts
from service.runtime import AppRuntime
from store.tables import (
    Approval,
    ExperimentAssignment,
    ExperimentOutcome,
    ExperimentStop,
    Handoff,
)

if TYPE_CHECKING:
    from agent.drafting import DraftRequest

log = logging.getLogger(__name__)

DECISION_KINDS = {"approve": "approved_as_is", "edit": "edited", "reject": "rejected",
                  "revise": "revised", "escalate": "escalated"}
DRAFT_STAGES = ("drafting_prompt", "offline_template")


def experiment_named(rt: AppRuntime, name: str) -> Experiment:
    found = next((e for e in rt.policy.experiments if e.name == name), None)
    if found is None:
        known = ", ".join(e.name for e in rt.policy.experiments) or "none in the policy file"
        raise NotFound(f"no experiment named {name!r} (known: {known})")
    return found


def stopped_names(session: Session) -> dict[str, ExperimentStop]:
    return {row.experiment: row for row in session.scalars(select(ExperimentStop))}


def variants_for(rt: AppRuntime, lead_id: str, stages: tuple[str, ...]
                 ) -> list[tuple[Experiment, Variant]]:
    """The lead's variant in each experiment of these stages that applies now: the stored one
    when the lead has it (whatever the split says today), else a new assignment when the
    experiment is taking leads. Stored before it is used, so a restart cannot change it."""
    now = rt.clock.now()
    candidates = [e for e in rt.policy.experiments if e.stage in stages and applies(e, now)]
    if not candidates:
        return []
    names = [e.name for e in candidates]
    with rt.db.session() as session:
        stored = dict(session.execute(
            select(ExperimentAssignment.experiment, ExperimentAssignment.variant)
            .where(ExperimentAssignment.lead_id == lead_id,
                   ExperimentAssignment.experiment.in_(names))).all())
        stops = set(session.scalars(select(ExperimentStop.experiment)
                                    .where(ExperimentStop.experiment.in_(names))))
        fresh = [{"id": new_id("xa"), "experiment": e.name, "lead_id": lead_id,
                  "variant": assign(e, lead_id), "stage": e.stage,
                  "policy_version": rt.policy.version, "assigned_at": now}
                 for e in candidates
                 if e.name not in stored and running(e, now, stopped=e.name in stops)]
        if fresh:
            # A concurrent run may have assigned a moment ago: the first row stays.
            session.execute(insert_ignoring_conflicts(session, ExperimentAssignment, fresh,
                                                      ["experiment", "lead_id"]))
            stored = dict(session.execute(
                select(ExperimentAssignment.experiment, ExperimentAssignment.variant)
                .where(ExperimentAssignment.lead_id == lead_id,
                       ExperimentAssignment.experiment.in_(names))).all())
    chosen = []
    for experiment in candidates:
        variant = experiment.variant(stored.get(experiment.name, ""))
        if variant is not None:  # a variant since removed from the policy applies nothing
            chosen.append((experiment, variant))
    return chosen


# -- applying variants (hooks in service/handoffs.py) ----------------------------------------

def draft_request(rt: AppRuntime, lead_id: str, request: DraftRequest) -> DraftRequest:
    """The request with the lead's drafting variants applied. A variant's template replaces
    the default on every draft of the lead (a revise of a short email stays the short
    template, following the rep's words); a variant's instruction likewise joins every draft
    as `variant_instruction`, which no drafter names in the note."""
    if not rt.policy.experiments:
        return request
    try:
        chosen = variants_for(rt, lead_id, DRAFT_STAGES)
    except Exception:  # an experiment never stops a draft
        log.warning("experiment assignment failed for lead %s", lead_id, exc_info=True)
        return request
    update: dict[str, Any] = {}
    templates = {template_slot(name): name for _, variant in chosen
                 for name in (variant.prompt, variant.template) if name}
    if templates:
        update["templates"] = {**request.templates, **templates}
    words = [v.instruction for _, v in chosen if v.instruction]
    if words:
        update["variant_instruction"] = "; ".join(words)
    return request.model_copy(update=update) if update else request


def runtime_for(rt: AppRuntime, lead_id: str) -> AppRuntime:
    """`rt`, or a shallow copy whose policy carries the lead's threshold variants."""
    if not any(e.stage == "policy_threshold" for e in rt.policy.experiments):
        return rt
    try:
        chosen = variants_for(rt, lead_id, ("policy_threshold",))
    except Exception:
        log.warning("experiment assignment failed for lead %s", lead_id, exc_info=True)
        return rt
    thresholds = {k: v for _, variant in chosen for k, v in variant.thresholds.items()}
    if not thresholds:
        return rt
    varied = copy.copy(rt)
    varied.policy = with_thresholds(rt.policy, thresholds)
    return varied


def runtime_for_handoff(rt: AppRuntime, handoff_id: str) -> AppRuntime:
    """`runtime_for` the handoff's lead (SLA timers and rescue hold a handoff id). Read in a
    session of its own, before the caller locks the handoff: an assignment made here commits
    on its own."""
    if not any(e.stage == "policy_threshold" for e in rt.policy.experiments):
        return rt
    with rt.db.read() as session:
        lead_id = session.scalar(select(Handoff.lead_id).where(Handoff.id == handoff_id))
    return rt if lead_id is None else runtime_for(rt, lead_id)


# -- recording (hooks in service/handoffs.py and service/approvals.py) -----------------------

def add_outcomes(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert_ignoring_conflicts(session, ExperimentOutcome, rows,
                                                  ["dedupe_key"]))


def outcome_row(experiment: str, variant: str, lead_id: str, kind: str, key: str,
                at: datetime, **values: Any) -> dict[str, Any]:
    row = {"id": new_id("xo"), "dedupe_key": f"{experiment}:{kind}:{key}"[:300],
           "experiment": experiment, "variant": variant, "lead_id": lead_id, "kind": kind,
           "approval_id": None, "outbox_id": None, "event_id": None, "reason_code": None,
           "edit_ratio": None, "seconds": None, "occurred_at": at}
    row.update(values)
    return row


def on_draft(rt: AppRuntime, session: Session, approval_id: str, lead_id: str,
             now: datetime) -> None:
    """Join the new approval to each variant its lead holds (in the approval's transaction)."""
    if not rt.policy.experiments:
        return
    assignments = session.execute(
        select(ExperimentAssignment.experiment, ExperimentAssignment.variant)
        .where(ExperimentAssignment.lead_id == lead_id)).all()
    live = {e.name for e in rt.policy.experiments if applies(e, now)}
    add_outcomes(session, [outcome_row(name, variant, lead_id, "drafted", approval_id, now,
                               approval_id=approval_id)
                   for name, variant in assignments if name in live])


def on_decision(session: Session, approval: Approval, action: str, payload: dict[str, Any], *,
                now: datetime) -> None:
    """The decision on a drafted approval, per variant: kind, how much was edited, how long it
    took, why rejected. In the decision's transaction, so it commits with it or not at all."""
    kind = DECISION_KINDS.get(action)
    if kind is None:
        return
    drafted = session.execute(
        select(ExperimentOutcome.experiment, ExperimentOutcome.variant)
        .where(ExperimentOutcome.approval_id == approval.id,
               ExperimentOutcome.kind == "drafted")).all()
    if not drafted:
        return
    ratio = None
    if action == "edit":
        before = f"{approval.subject}\n{approval.body}"
        after = f"{payload.get('subject') or approval.subject}\n{payload.get('body') or ''}"
        ratio = round(1 - difflib.SequenceMatcher(None, before, after, autojunk=False).ratio(), 4)
    seconds = (now - approval.created_at).total_seconds() if approval.created_at else None
    add_outcomes(session, [outcome_row(name, variant, approval.lead_id, kind, approval.id, now,
                               approval_id=approval.id, reason_code=payload.get("reason_code"),
                               edit_ratio=ratio, seconds=seconds)
                   for name, variant in drafted])


# -- stopping --------------------------------------------------------------------------------

def stop(rt: AppRuntime, name: str, *, actor: str, note: str | None = None) -> dict[str, Any]:
    """Stop new assignments (leads already in keep their variant until `ends_at`). Never edits
    the policy: keeping the winner is a person changing the policy file."""
    experiment = experiment_named(rt, name)
    now = rt.clock.now()
    with rt.db.session() as session:
        existing = session.get(ExperimentStop, experiment.name)
        if existing is not None:
            raise Conflict(f"experiment {name} was already stopped by {existing.stopped_by} "
                           f"at {existing.stopped_at.isoformat()}")
        session.add(ExperimentStop(experiment=experiment.name, stopped_at=now,
                                   stopped_by=actor, note=note))
        audit(session, rt, actor=actor, action="experiment_stopped", lead_id=None,
              subject_id=None, experiment=experiment.name, note=note)
    return {"name": experiment.name, "stopped_at": now, "stopped_by": actor}
