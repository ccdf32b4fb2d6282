"""process_lead's writes as prebuilt Core statements (service/leads.py): the lead and its new
events read as rows and written back with one UPDATE each, the new handoff inserted as a row.
Building a statement cost about what running it does, and an ORM load and flush several times
that, for rows nobody else in the transaction reads back."""

from __future__ import annotations

from functools import cache
from types import SimpleNamespace
from typing import Any, NamedTuple

from sqlalchemy import Executable, Table, bindparam, insert, select, update

from store.tables import Event, Handoff, Lead


class Record(SimpleNamespace):
    """A row read for changing: attribute access like the mapped class, no unit of work."""


# What processing a lead may change on its record: written back in one UPDATE.
LEAD_CHANGES = ("unsubscribed_at", "consent", "first_signal_at", "score", "band",
                "disqualifiers", "route", "policy_version", "updated_at", "stage", "owner",
                "sla_due_at", "suppressed_until")
# The new handoff's columns (the rest start empty).
HANDOFF_ROW = ("id", "lead_id", "route", "status", "assignee", "active", "trigger_event_id",
               "policy_version", "sla_due_at", "created_at", "first_signal_at", "sla_breaches")


def lead_values(lead: Record) -> dict[str, Any]:
    return {"lead": lead.id, **{name: getattr(lead, name) for name in LEAD_CHANGES}}


class ProcessStatements(NamedTuple):
    lead: Executable
    lead_for_update: Executable
    event_processed: Executable
    update_lead: Executable
    insert_handoff: Executable


@cache
def process_statements() -> ProcessStatements:
    """process_lead's statements, built once (building them cost about what running them
    does): the lead (locked on PostgreSQL), its events marked processed, the lead's new
    state, the new handoff."""
    leads: Table = Lead.__table__  # type: ignore[assignment]
    events: Table = Event.__table__  # type: ignore[assignment]
    handoffs: Table = Handoff.__table__  # type: ignore[assignment]
    lead = select(leads).where(leads.c.id == bindparam("lead_id"))
    return ProcessStatements(
        lead=lead, lead_for_update=lead.with_for_update(),
        event_processed=update(events).where(events.c.event_id == bindparam("event"))
        .values(processed_at=bindparam("now")),
        update_lead=update(leads).where(leads.c.id == bindparam("lead")).values(
            {name: bindparam(name) for name in LEAD_CHANGES}),
        insert_handoff=insert(handoffs),
    )
