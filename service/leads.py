"""Lead processing (events -> qualification -> maybe a handoff), views and context.

Erasure lives in service/erasure.py."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Row, bindparam, exists, func, select
from sqlalchemy.orm import Session

from agent.models import ContextPackage, LeadProfile, Qualification, Signal
from agent.policy import Member
from service.audit import audit
from service.errors import NotFound
from service.experiments import runtime_for as experiment_runtime
from service.ids import new_id
from service.jobs import enqueue
from service.lead_rows import HANDOFF_ROW, Record, lead_values, process_statements
from service.lifecycle import HANDOFF_START, ApprovalStatus
from service.outbox_views import redraw_card
from service.runtime import AppRuntime
from store.tables import (
    Approval,
    Decision,
    Event,
    Handoff,
    Lead,
)

log = logging.getLogger(__name__)

# Upper bound on history read per lead: the window is what counts, this only bounds the cost.
MAX_SIGNALS = 2000


def profile(lead: Lead | Row[*tuple[Any, ...]]) -> LeadProfile:
    """The record as qualification sees it, from a `Lead` or a row of `_LEAD_FACTS`."""
    return LeadProfile(
        lead_id=lead.id, email=lead.email or "", first_name=lead.first_name,
        last_name=lead.last_name, company=lead.company, title=lead.title, domain=lead.domain,
        country=lead.country, employees=lead.employees, industry=lead.industry,
        timezone=lead.timezone,
    )


# The hot path's reads, built once with bound parameters: every lead runs them, and building
# a statement (and its cache key) cost about what executing it does.
_SIGNALS = (select(Event.event_id, Event.type, Event.occurred_at, Event.properties)
            .where(Event.lead_id == bindparam("lead_id"), Event.occurred_at >= bindparam("since"))
            .order_by(Event.occurred_at.desc())
            .limit(MAX_SIGNALS))
_NEW_EVENTS = (select(Event.event_id, Event.type, Event.occurred_at, Event.received_at,
                      Event.properties)
               .where(Event.lead_id == bindparam("lead_id"), Event.processed_at.is_(None))
               .order_by(Event.occurred_at))
_ACTIVE_HANDOFFS = select(func.count()).select_from(Handoff).where(
    Handoff.lead_id == bindparam("lead_id"), Handoff.active.is_(True))
# The pending cards of the lead's active handoff (a card shows when its lead turns disqualified).
_PENDING_CARDS = select(Approval.id).join(Handoff, Handoff.id == Approval.handoff_id).where(
    Handoff.lead_id == bindparam("lead_id"), Handoff.active.is_(True),
    Approval.status == ApprovalStatus.PENDING.value)
_PENDING_BY_ASSIGNEE = (select(Approval.assignee, func.count())
                        .where(Approval.status == ApprovalStatus.PENDING.value)
                        .group_by(Approval.assignee))
# What `read_lead_facts` needs of the record, as a row: an ORM `session.get` builds and keys a
# statement for the whole entity on every call, for an object nobody changes.
_LEAD_FACTS = select(Lead.id, Lead.email, Lead.first_name, Lead.last_name, Lead.company,
                     Lead.title, Lead.domain, Lead.country, Lead.employees, Lead.industry,
                     Lead.timezone, Lead.unsubscribed_at, Lead.consent, Lead.suppressed_until,
                     Lead.suppression_reason, Lead.erased_at
                     ).where(Lead.id == bindparam("lead_id"))
# ...and the holder of its active handoff, with whether they have an approved edit since
# `since` (the index on decisions (actor, action, created_at) answers it).
_HOLDER = (select(Handoff.assignee).where(Handoff.lead_id == Lead.id, Handoff.active.is_(True))
           .correlate(Lead).scalar_subquery())
_LEAD_FACTS_AND_HOLDER = _LEAD_FACTS.add_columns(
    _HOLDER.label("holder"),
    exists().where(Decision.actor == _HOLDER, Decision.action == "edit",
                   Decision.created_at >= bindparam("since")).label("holder_edits"))


def load_signals(session: Session | Connection, lead_id: str, *,
                 since: datetime) -> list[Signal]:
    rows = session.execute(_SIGNALS, {"lead_id": lead_id, "since": since}).all()
    # Stored events were validated on the way in (service/schemas.py EventIn): rebuilding each
    # through validation again cost more than reading it, on a lead with a long history.
    return [Signal.model_construct(event_id=r.event_id, type=r.type, occurred_at=r.occurred_at,
                                   properties=r.properties or {}) for r in reversed(rows)]


def _apply_event_effects(lead: Lead, event: Event) -> None:
    """State that events change directly, in occurrence order."""
    if event.type == "unsubscribe":
        if lead.unsubscribed_at is None or event.occurred_at > lead.unsubscribed_at:
            lead.unsubscribed_at = event.occurred_at
        lead.consent = False
    elif event.type == "consent":
        opted_in = bool(event.properties.get("email_opt_in"))
        lead.consent = opted_in
        # A newer explicit opt-in is the person changing their mind about an older unsubscribe.
        if opted_in and lead.unsubscribed_at and event.occurred_at > lead.unsubscribed_at:
            lead.unsubscribed_at = None


def qualify_lead(rt: AppRuntime, session: Session | Connection,
                 lead: Lead) -> tuple[Qualification, list[Signal]]:
    from agent.qualification import qualify

    now = rt.clock.now()
    since = now - timedelta(days=rt.policy.scoring.window_days)
    signals = load_signals(session, lead.id, since=since)
    # A recycle's suppression window keeps band A / strategic leads with automation.
    return qualify(profile(lead), signals, now, rt.policy,
                   suppressed_until=lead.suppressed_until,
                   suppression_reason=lead.suppression_reason), signals


def process_lead(rt: AppRuntime, lead_id: str) -> str | None:
    """Apply new events, re-qualify, and start a handoff when the gate opens.

    Returns the new handoff id, if one was started.
    """
    from agent.gates import handoff_gate

    rt = experiment_runtime(rt, lead_id)  # a threshold experiment's variant: bands, SLA, ...
    now = rt.clock.now()
    stmt = process_statements()
    with rt.db.session() as session:
        conn = session.connection()
        # Prebuilt Core statements on the transaction's connection: the lead and its new
        # events are read as rows and written back with one UPDATE each (what changed is known
        # here), the handoff inserted as a row: no ORM identity map to load into, no unit of
        # work to flush. No query below reads what this transaction changes (signals are read
        # by time, not by processed_at; the handoff counts and owner statistics concern other,
        # committed handoffs; queued jobs reference nothing by key).
        row = conn.execute(stmt.lead_for_update if not rt.db.is_sqlite else stmt.lead,
                           {"lead_id": lead_id}).first()
        if row is None or row.erased_at is not None:
            return None
        lead = Record(**row._mapping)
        new_events = conn.execute(_NEW_EVENTS, {"lead_id": lead_id}).all()
        for event in new_events:
            _apply_event_effects(lead, event)  # type: ignore[arg-type]
        if new_events:
            conn.execute(stmt.event_processed, [{"event": e.event_id, "now": now}
                                                   for e in new_events])
        if new_events and lead.first_signal_at is None:
            lead.first_signal_at = min(e.received_at for e in new_events)

        qualification, _ = qualify_lead(rt, conn, lead)  # type: ignore[arg-type]
        previous_route = lead.route
        lead.score = qualification.score
        lead.band = qualification.band
        lead.disqualifiers = [d.model_dump() for d in qualification.disqualifiers]
        lead.route = qualification.route
        lead.policy_version = qualification.policy_version
        lead.updated_at = now
        if qualification.route == "disqualified":
            lead.stage = "disqualified"
        elif qualification.route == "nurture" and lead.stage in ("new", "nurture"):
            lead.stage = "nurture"

        active = conn.scalar(_ACTIVE_HANDOFFS, {"lead_id": lead_id}) or 0
        gate = handoff_gate(
            qualification, new_event_ids={e.event_id for e in new_events},
            previous_route=previous_route, has_active_handoff=bool(active),
            suppressed_until=lead.suppressed_until, suppression_reason=lead.suppression_reason,
            now=now, policy=rt.policy,
        )
        if not gate.start:
            conn.execute(stmt.update_lead, lead_values(lead))
            newly_disqualified = (qualification.route == "disqualified"
                                  and previous_route != "disqualified")
            if active and newly_disqualified:
                _show_disqualified(rt, session, lead_id, qualification, now)
            if qualification.needs_human:
                log.info("lead %s not handed off: %s", lead_id, gate.reason)
            return None

        owner = _pick_owner(rt, conn, lead, qualification)  # type: ignore[arg-type]
        from agent.sla import sla_due_at
        from service.sla import owner_timezone, schedule_sla_check

        due = sla_due_at(qualification.route, now, rt.policy, tz=owner_timezone(rt, owner))
        trigger_received = min((e.received_at for e in new_events), default=now)
        handoff = Handoff(
            id=new_id("ho"), lead_id=lead_id, route=qualification.route,
            status=HANDOFF_START.value,
            assignee=owner.key, active=True, trigger_event_id=qualification.hand_raise_event_id,
            policy_version=rt.policy.version, sla_due_at=due, created_at=now,
            first_signal_at=trigger_received, sla_breaches=0,
        )
        # Inserted as a row (not added to the session): nothing here reads it back.
        conn.execute(stmt.insert_handoff, {name: getattr(handoff, name)
                                              for name in HANDOFF_ROW})
        if lead.stage == "recycled":
            # A recycled lead showing intent again: the measure of whether recycling works.
            audit(session, rt, actor="system", action="return_to_intent", lead_id=lead_id,
                  reason=lead.suppression_reason,
                  days_since_recycle=(now - lead.recycled_at).days if lead.recycled_at else None)
            rt.metrics.return_to_intent.labels(lead.suppression_reason or "unknown").inc()
        lead.owner = owner.key
        lead.stage = "assigned"
        lead.sla_due_at = due
        if lead.suppressed_until and lead.suppressed_until > now:
            # A hand-raise overrode the suppression; the window no longer applies.
            lead.suppressed_until = None
        conn.execute(stmt.update_lead, lead_values(lead))
        audit(session, rt, actor="system", action="handoff_started", lead_id=lead_id,
              subject_id=handoff.id, route=qualification.route, owner=owner.key,
              reason=gate.reason, score=qualification.score, band=qualification.band)
        enqueue(session, "run_handoff", {"handoff_id": handoff.id}, now=now,
                dedupe_key=f"run_handoff:{handoff.id}")
        if due is not None:
            schedule_sla_check(rt, session, handoff, breach=1, at=due)
    rt.metrics.handoffs_started.labels(qualification.route).inc()
    rt.notify_work()
    return handoff.id


def _pick_owner(rt: AppRuntime, session: Session | Connection, lead: Lead,
                qualification: Qualification) -> Member:
    """The current owner if still available, else the policy's choice, else a manager."""
    from agent.routing import choose_owner

    current = rt.roster.find(lead.owner)
    if current is not None and current.role == "rep" and not current.out_of_office:
        return current
    chosen = choose_owner(profile(lead), qualification, rt.roster, rt.policy,
                          *routing_load(rt, session))
    if chosen is not None:
        return chosen
    return rt.roster.managers_on_duty()[0]


def _show_disqualified(rt: AppRuntime, session: Session, lead_id: str,
                       qualification: Qualification, now: datetime) -> None:
    """The lead turned disqualified while a card waits for a person: recorded, and the card
    updated to say so (the person deciding should know; the SLA rescue closes it if it lapses,
    service/rescue.py)."""
    audit(session, rt, actor="system", action="disqualified_during_handoff", lead_id=lead_id,
          disqualifiers=[d.code for d in qualification.disqualifiers])
    if not rt.settings.slack_enabled:
        return
    for approval_id in session.connection().scalars(_PENDING_CARDS, {"lead_id": lead_id}):
        redraw_card(rt, session, approval_id, now=now)


def routing_load(rt: AppRuntime, session: Session | Connection
                 ) -> tuple[dict[str, int], dict[str, datetime]]:
    """What `choose_owner` weighs: each member's pending cards (the policy's cap) and when each
    was last given a handoff (the round robin)."""
    open_counts = dict(session.execute(_PENDING_BY_ASSIGNEE).all())
    return open_counts, _last_assigned(session, [m.key for m in rt.roster.members])


def _last_assigned(session: Session | Connection, keys: list[str]) -> dict[str, datetime]:
    """When each of these roster members was last given a handoff (absent: never).

    One statement of per-member MAX subqueries, each answered from the index on (assignee,
    created_at): the cost follows the roster's size, not the number of handoffs ever made."""
    if not keys:
        return {}
    latest = session.execute(_last_assigned_query(tuple(keys))).one()
    return {key: at for key, at in zip(keys, latest, strict=True) if at is not None}


@lru_cache(maxsize=8)
def _last_assigned_query(keys: tuple[str, ...]) -> Any:
    # Built once per roster: constructing N subqueries costs more than running them.
    return select(*(
        select(func.max(Handoff.created_at)).where(Handoff.assignee == key).scalar_subquery()
        for key in keys))


def get_lead(rt: AppRuntime, lead_id: str) -> dict[str, Any]:
    with rt.db.read() as session:
        lead = session.get(Lead, lead_id)
        if lead is None or lead.erased_at is not None:
            raise NotFound(f"lead {lead_id} not found")
        return {
            "lead_id": lead.id, "email": lead.email, "first_name": lead.first_name,
            "last_name": lead.last_name, "company": lead.company, "title": lead.title,
            "domain": lead.domain, "country": lead.country, "employees": lead.employees,
            "industry": lead.industry, "timezone": lead.timezone,
            "score": lead.score, "band": lead.band, "disqualifiers": lead.disqualifiers,
            "route": lead.route, "owner": lead.owner, "stage": lead.stage,
            "sla_due_at": lead.sla_due_at, "suppressed_until": lead.suppressed_until,
            "suppression_reason": lead.suppression_reason, "nurture_track": lead.nurture_track,
            "unsubscribed": lead.unsubscribed_at is not None, "consent": lead.consent,
            "policy_version": lead.policy_version, "created_at": lead.created_at,
            "updated_at": lead.updated_at, "handoff": _active_handoff(session, lead_id),
        }


def _active_handoff(session: Session, lead_id: str) -> dict[str, Any] | None:
    """The lead's current handoff, so other systems can see who owns it and how late it is."""
    handoff = session.scalar(select(Handoff).where(Handoff.lead_id == lead_id,
                                                   Handoff.active.is_(True)))
    if handoff is None:
        return None
    return {"handoff_id": handoff.id, "status": handoff.status, "route": handoff.route,
            "assignee": handoff.assignee, "sla_due_at": handoff.sla_due_at,
            "sla_breaches": handoff.sla_breaches, "reminded_at": handoff.reminded_at,
            "escalated_at": handoff.escalated_at, "created_at": handoff.created_at}


@dataclass(frozen=True)
class LeadFacts:
    """What qualification and the context package are computed from, read in one transaction:
    the record, its signals in the scoring window, and the contact permissions."""

    profile: LeadProfile
    signals: list[Signal]
    unsubscribed: bool
    consent: bool | None
    suppressed_until: datetime | None
    suppression_reason: str | None = None
    # With `edits_since`: whether the holder of the lead's active handoff (its roster key) has
    # an approved edit since then, {key: bool}, for the drafter's style examples.
    holder_edits: dict[str, bool] | None = None


def read_lead_facts(rt: AppRuntime, lead_id: str, *,
                    edits_since: datetime | None = None) -> LeadFacts | None:
    """The lead's facts now; None when it does not exist or was erased.

    `edits_since`: also whether the active handoff's holder has an approved edit since then
    (the draft that follows needs it: read here, it costs no transaction of its own)."""
    with rt.db.read_connection() as conn:  # Core statements only: no Session around them
        if edits_since is None:
            lead = conn.execute(_LEAD_FACTS, {"lead_id": lead_id}).first()
        else:
            lead = conn.execute(_LEAD_FACTS_AND_HOLDER,
                                {"lead_id": lead_id, "since": edits_since}).first()
        if lead is None or lead.erased_at is not None:
            return None
        signals = load_signals(conn, lead.id, since=rt.clock.now() - timedelta(
            days=rt.policy.scoring.window_days))
        holder_edits = None
        if edits_since is not None and lead.holder is not None:
            holder_edits = {lead.holder: bool(lead.holder_edits)}
        return LeadFacts(profile(lead), signals, unsubscribed=lead.unsubscribed_at is not None,
                         consent=lead.consent, suppressed_until=lead.suppressed_until,
                         suppression_reason=lead.suppression_reason, holder_edits=holder_edits)


def qualify_facts(rt: AppRuntime, facts: LeadFacts) -> Qualification:
    from agent.qualification import qualify

    return qualify(facts.profile, facts.signals, rt.clock.now(), rt.policy)


def context_from_facts(rt: AppRuntime, facts: LeadFacts,
                       qualification: Qualification) -> ContextPackage:
    """The "why now" package from these facts and the verdict qualification reached on them."""
    from agent.context import build_context_package

    return build_context_package(facts.profile, qualification, facts.signals, rt.clock.now(),
                                 rt.policy, rt.content_library, unsubscribed=facts.unsubscribed,
                                 consent=facts.consent, suppressed_until=facts.suppressed_until,
                                 suppression_reason=facts.suppression_reason)


def build_context(rt: AppRuntime, lead_id: str) -> ContextPackage:
    """The "why now" package from the lead's current record and history, qualified now."""
    facts = read_lead_facts(rt, lead_id)
    if facts is None:
        raise NotFound(f"lead {lead_id} not found")
    return context_from_facts(rt, facts, qualify_facts(rt, facts))

