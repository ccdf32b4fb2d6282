"""Slack: posted cards, received event ids, and the log of every post (for erasure)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from store.tables.base import Base


class SlackCard(Base):
    """Where the Slack card of one approval version lives, so any replica can update it.

    `thread_ts` is the root of the thread the card sits in: its own `ts` for a new root, the
    earlier card's root when version N+1 is posted in that thread. No foreign keys: erasure must
    still find the cards (to redact them in Slack) after the approvals are gone.
    """

    __tablename__ = "slack_cards"

    approval_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    handoff_id: Mapped[str] = mapped_column(String(40), index=True)
    lead_id: Mapped[str] = mapped_column(String(40), index=True)
    version: Mapped[int] = mapped_column(Integer)
    assignee: Mapped[str] = mapped_column(String(320))
    channel: Mapped[str] = mapped_column(String(40))
    ts: Mapped[str] = mapped_column(String(32))
    thread_ts: Mapped[str] = mapped_column(String(32))
    history_posted: Mapped[bool] = mapped_column(Boolean, default=False)
    posted_at: Mapped[datetime]
    updated_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_slack_cards_thread", "channel", "thread_ts"),)


class SlackEventReceipt(Base):
    """Slack deliveries already acted on (event ids, message keys): retries change nothing."""

    __tablename__ = "slack_event_receipts"

    event_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(index=True)


class SlackMessageLog(Base):
    """Every message the app posted to Slack about a lead or a support conversation (cards,
    history, thread answers, transcripts, reminders, escalation DMs), so an erasure can find
    and redact each one. Ids only, never text. `erasure_id` is set when an erasure queued the
    message's redaction; the row is deleted once Slack confirmed it (migration 0010)."""

    __tablename__ = "slack_message_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(40))
    ts: Mapped[str] = mapped_column(String(32))
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    lead_id: Mapped[str | None] = mapped_column(String(40), index=True)
    conversation_id: Mapped[str | None] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    posted_at: Mapped[datetime]
    erasure_id: Mapped[str | None] = mapped_column(String(40), index=True)

    __table_args__ = (UniqueConstraint("channel", "ts", name="uq_slack_message_log_message"),)
