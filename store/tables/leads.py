"""Leads, their events, the audit log and the hashes of erased event ids."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from store.tables.base import Base, name_key_index


class Lead(Base):
    __tablename__ = "leads"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # NULL once erased; unique so one person is one lead.
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    company: Mapped[str | None] = mapped_column(String(300))
    title: Mapped[str | None] = mapped_column(String(300))
    domain: Mapped[str | None] = mapped_column(String(255))
    country: Mapped[str | None] = mapped_column(String(2))
    employees: Mapped[int | None] = mapped_column(Integer)
    industry: Mapped[str | None] = mapped_column(String(200))
    timezone: Mapped[str | None] = mapped_column(String(64))

    score: Mapped[float | None] = mapped_column(Float)
    band: Mapped[str | None] = mapped_column(String(16))
    disqualifiers: Mapped[list[Any]] = mapped_column(default=list)
    route: Mapped[str | None] = mapped_column(String(32))
    stage: Mapped[str] = mapped_column(String(32), default="new")
    owner: Mapped[str | None] = mapped_column(String(320))
    sla_due_at: Mapped[datetime | None]
    suppressed_until: Mapped[datetime | None]
    suppression_reason: Mapped[str | None] = mapped_column(String(32))
    nurture_track: Mapped[str | None] = mapped_column(String(100))
    unsubscribed_at: Mapped[datetime | None]
    consent: Mapped[bool | None] = mapped_column(Boolean)
    policy_version: Mapped[str | None] = mapped_column(String(64))
    first_signal_at: Mapped[datetime | None]
    recycled_at: Mapped[datetime | None]
    erased_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


# The content check looks other leads up by the keys of their names (`name_key`) instead of
# scanning every lead for the words of a draft.
name_key_index("ix_leads_first_name_key", Lead.__table__.c.first_name)
name_key_index("ix_leads_last_name_key", Lead.__table__.c.last_name)
name_key_index("ix_leads_company_key", Lead.__table__.c.company)


class Event(Base):
    __tablename__ = "events"

    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    lead_id: Mapped[str] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime]
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)
    processed_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_events_lead_occurred", "lead_id", "occurred_at"),
        Index(
            "ix_events_unprocessed",
            "lead_id",
            sqlite_where=text("processed_at IS NULL"),
            postgresql_where=text("processed_at IS NULL"),
        ),
    )


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(64))
    lead_id: Mapped[str | None] = mapped_column(String(40), index=True)
    subject_id: Mapped[str | None] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    policy_version: Mapped[str | None] = mapped_column(String(64))


class ErasedEvent(Base):
    """Hashes of event ids whose lead was erased, so a replayed delivery cannot resurrect them."""

    __tablename__ = "erased_events"

    event_id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    erased_at: Mapped[datetime]
