"""A handoff, its approvals and decisions, and the outbox of approved messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from store.tables.base import Base


class Handoff(Base):
    """One attempt to get a lead to a human, from qualification to send or recycle.

    `active` is true from start to close; a partial unique index makes it one per lead, which
    is how "one owner at a time" is enforced by the database rather than by hope.
    """

    __tablename__ = "handoffs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    lead_id: Mapped[str] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    route: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    assignee: Mapped[str | None] = mapped_column(String(320))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    trigger_event_id: Mapped[str | None] = mapped_column(String(200))
    policy_version: Mapped[str] = mapped_column(String(64))
    sla_due_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(64))
    outcome_detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    first_signal_at: Mapped[datetime | None]
    carded_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # SLA breaches handled so far (1 = owner reminded, 2 = escalated and reassigned).
    sla_breaches: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reminded_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]

    __table_args__ = (
        # Round robin asks for each rep's latest assignment: an index seek per rep, not a scan
        # of every handoff ever made.
        Index("ix_handoffs_assignee_created", "assignee", "created_at"),
        Index(
            "uq_handoffs_one_active_per_lead",
            "lead_id",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )


class Approval(Base):
    """A versioned request for a human decision on one draft; only the newest can be decided."""

    __tablename__ = "approvals"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    handoff_id: Mapped[str] = mapped_column(ForeignKey("handoffs.id", ondelete="CASCADE"))
    lead_id: Mapped[str] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    assignee: Mapped[str] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    channel: Mapped[str] = mapped_column(String(16), default="email")
    to_email: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    draft_source: Mapped[str] = mapped_column(String(16))
    draft_note: Mapped[str | None] = mapped_column(Text)
    prompt_version: Mapped[str | None] = mapped_column(String(64))
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    request: Mapped[dict[str, Any]] = mapped_column(default=dict)
    policy_version: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    sla_due_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(320))

    __table_args__ = (
        UniqueConstraint("handoff_id", "version", name="uq_approvals_version"),
        # Routing counts each assignee's pending approvals: read from this index alone, not
        # from the rows. It serves lookups by status too (it replaced ix_approvals_status).
        Index("ix_approvals_status_assignee", "status", "assignee"),
    )


class Decision(Base):
    """The human decision on one approval version. The unique approval_id is the "one wins"."""

    __tablename__ = "decisions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    approval_id: Mapped[str] = mapped_column(
        ForeignKey("approvals.id", ondelete="CASCADE"), unique=True
    )
    handoff_id: Mapped[str] = mapped_column(ForeignKey("handoffs.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(320))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    policy_version: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    applied_at: Mapped[datetime | None]

    # A rep's recent edits are looked up before every model draft (style examples).
    __table_args__ = (Index("ix_decisions_actor_action", "actor", "action", "created_at"),)


class OutboxMessage(Base):
    """An approved message, frozen at decision time; delivered at most once per approval."""

    __tablename__ = "outbox"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    approval_id: Mapped[str] = mapped_column(
        ForeignKey("approvals.id", ondelete="CASCADE"), unique=True
    )
    lead_id: Mapped[str] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    to_email: Mapped[str | None] = mapped_column(String(320))
    from_email: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(300), unique=True)
    # pending -> sending -> sent | retrying (-> sending ...) | blocked | not_sent | failed;
    # see service/lifecycle.py for the public names.
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    status_detail: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    failing_since: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    locked_until: Mapped[datetime | None]
    # When the current attempt handed the message to the mail server (its 354): set
    # while an answer is awaited, so an attempt that never got one is known not to be resent.
    handed_over_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
