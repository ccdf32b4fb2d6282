"""Accepting events: validate all, store all in one transaction, queue processing, return fast.

Processing (qualification, handoffs, drafting) happens off the request path in the worker; the
queued `process_lead` job commits with the events, so an accepted event survives a crash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.experiments_outcomes import record_event_outcomes
from service.ids import hash_event_id, new_id
from service.jobs import enqueue, insert_ignoring_conflicts
from service.runtime import AppRuntime
from service.schemas import EventIn, LeadIn
from store.tables import ErasedEvent, Event, Lead

_PROFILE_FIELDS = ("first_name", "last_name", "company", "title", "domain", "country",
                   "employees", "industry", "timezone")


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    leads: list[dict[str, str]] = field(default_factory=list)


def ingest_events(rt: AppRuntime, events: list[EventIn]) -> IngestResult:
    """Store a validated batch atomically; an `event_id` seen before changes nothing."""
    now = rt.clock.now()
    result = IngestResult()
    seen: set[str] = set()
    unique: list[EventIn] = []
    for event in events:
        if event.event_id in seen:
            result.duplicates += 1
        else:
            seen.add(event.event_id)
            unique.append(event)

    with rt.db.session() as session:
        known = set(session.scalars(select(Event.event_id).where(Event.event_id.in_(seen))))
        hashes = {hash_event_id(event_id): event_id for event_id in seen}
        known |= {hashes[h] for h in session.scalars(
            select(ErasedEvent.event_id_hash).where(ErasedEvent.event_id_hash.in_(hashes)))}
        fresh = [e for e in unique if e.event_id not in known]
        result.duplicates += len(unique) - len(fresh)

        # Only new events may create or update a lead: a duplicate changes nothing.
        lead_ids = _upsert_leads(session, [e.lead for e in fresh], now)
        stale = {e.lead.email for e in unique if e.lead.email not in lead_ids}
        if stale:
            lead_ids.update((email, lead_id) for email, lead_id in session.execute(
                select(Lead.email, Lead.id).where(Lead.email.in_(stale))) if email)
        rows = [
            {"event_id": e.event_id, "lead_id": lead_ids[e.lead.email], "type": e.type,
             "occurred_at": e.occurred_at, "received_at": now, "properties": e.properties,
             "processed_at": None}
            for e in fresh
        ]
        inserted: set[str] = set()
        if rows:
            # A concurrent batch may have stored the same event_id a moment ago: DO NOTHING and
            # count only what this transaction really inserted.
            stmt = insert_ignoring_conflicts(session, Event, rows, ["event_id"]).returning(
                Event.event_id)
            inserted = set(session.scalars(stmt))
        result.duplicates += len(fresh) - len(inserted)
        result.accepted = len(inserted)
        # Replies, meetings, unsubscribes credited to the experiment variant that emailed them.
        record_event_outcomes(session, [r for r in rows if r["event_id"] in inserted])

        touched = {lead_ids[e.lead.email] for e in fresh if e.event_id in inserted}
        for lead_id in sorted(touched):
            enqueue(session, "process_lead", {"lead_id": lead_id}, now=now,
                    dedupe_key=f"process_lead:{lead_id}")
        order: dict[str, str] = {}
        for e in unique:
            if e.lead.email in lead_ids:
                order.setdefault(lead_ids[e.lead.email], e.lead.email)
        result.leads = [{"lead_id": lid, "email": email} for lid, email in order.items()]

    rt.metrics.events_accepted.inc(result.accepted)
    rt.metrics.events_duplicate.inc(result.duplicates)
    if result.accepted:
        rt.notify_work()
    return result


def _upsert_leads(session: Session, leads: list[LeadIn], now: datetime) -> dict[str, str]:
    """Map each email to its lead id, creating leads and filling in newly supplied fields."""
    latest: dict[str, LeadIn] = {}
    merged: dict[str, dict[str, object]] = {}
    for lead in leads:  # later events in the batch win field by field
        latest[lead.email] = lead
        values = merged.setdefault(lead.email, {})
        for name in _PROFILE_FIELDS:
            value = getattr(lead, name)
            if value is not None:
                values[name] = value

    emails = list(latest)
    # Every row names every column: a multi-row INSERT needs one shape for all its rows.
    rows = [{"id": new_id("lead"), "email": email, "stage": "new", "disqualifiers": [],
             "created_at": now, "updated_at": now, **dict.fromkeys(_PROFILE_FIELDS),
             **merged[email]} for email in emails]
    if rows:
        session.execute(insert_ignoring_conflicts(session, Lead, rows, ["email"]))
    existing: dict[str, Lead] = {row.email: row for row in
                                 session.scalars(select(Lead).where(Lead.email.in_(emails)))
                                 if row.email}
    for email, values in merged.items():
        stored = existing[email]
        changed = {k: v for k, v in values.items() if getattr(stored, k) != v}
        if changed:
            for key, value in changed.items():
                setattr(stored, key, value)
            stored.updated_at = now
    return {email: stored.id for email, stored in existing.items()}
