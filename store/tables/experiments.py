"""Experiments (issue 19): which variant each lead got, what happened under it, and stops.

The experiments themselves are policy data (`[[experiments]]`); these rows are what the policy
file cannot hold: assignments that must survive a reload, outcomes as they happen, and a
person's "stop taking new leads".
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from store.tables.base import Base


class ExperimentAssignment(Base):
    """A lead's variant in one experiment, fixed at first use (unique per experiment and lead)."""

    __tablename__ = "experiment_assignments"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    experiment: Mapped[str] = mapped_column(String(64))
    lead_id: Mapped[str] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    variant: Mapped[str] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(String(32))
    policy_version: Mapped[str] = mapped_column(String(64))
    assigned_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("experiment", "lead_id", name="uq_experiment_lead"),)


class ExperimentOutcome(Base):
    """One thing that happened under a variant: a draft shown (`drafted`, the join of an
    approval to its variant), a decision (`approved_as_is`, `edited`, `rejected`, `revised`,
    `escalated`), and after the send `reply`, `meeting`, `unsubscribe`, `complaint`.
    `dedupe_key` makes each one count once, however often its cause is replayed."""

    __tablename__ = "experiment_outcomes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(300), unique=True)
    experiment: Mapped[str] = mapped_column(String(64))
    variant: Mapped[str] = mapped_column(String(64))
    lead_id: Mapped[str] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    approval_id: Mapped[str | None] = mapped_column(String(40), index=True)
    outbox_id: Mapped[str | None] = mapped_column(String(40))
    event_id: Mapped[str | None] = mapped_column(String(200))
    reason_code: Mapped[str | None] = mapped_column(String(32))
    # Edits: 1 - difflib ratio of draft vs sent text (0 = unchanged, 1 = all new).
    edit_ratio: Mapped[float | None] = mapped_column(Float)
    # Decisions: seconds from card to decision.
    seconds: Mapped[float | None] = mapped_column(Float)
    occurred_at: Mapped[datetime]

    __table_args__ = (Index("ix_experiment_outcomes_experiment", "experiment", "variant", "kind"),)


class ExperimentStop(Base):
    """A person stopped new assignments (`hitl experiments stop`); the policy is not edited."""

    __tablename__ = "experiment_stops"

    experiment: Mapped[str] = mapped_column(String(64), primary_key=True)
    stopped_at: Mapped[datetime]
    stopped_by: Mapped[str] = mapped_column(String(320))
    note: Mapped[str | None] = mapped_column(Text)
