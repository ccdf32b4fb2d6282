"""Customer feedback on support conversations (issue 19 item 4): ratings of resolved
conversations and callbacks customers asked for.

Not re-exported from `store.tables` (that module is shared with another change in flight):
import from `store.tables.feedback`. Migration 0016 creates both tables.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from store.tables.base import Base


class SupportRating(Base):
    """The customer's 1-5 rating of one resolved stretch of a conversation: unique per
    conversation and `epoch` (a reopened conversation, resolved again, is asked again).

    What the rating is reported by is copied at rating time: `path` (`bot_only` or
    `transferred`), the transfer's `trigger` (why they escalated) and `agent` (who resolved
    it). A low score opens a follow-up for the support lead (`followup_*`)."""

    __tablename__ = "support_ratings"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("support_conversations.id", ondelete="CASCADE"), index=True)
    epoch: Mapped[int] = mapped_column(Integer)
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    path: Mapped[str] = mapped_column(String(16))
    trigger: Mapped[str | None] = mapped_column(String(32))
    agent: Mapped[str | None] = mapped_column(String(320))
    transfer_id: Mapped[str | None] = mapped_column(String(40))
    rated_by: Mapped[str] = mapped_column(String(32))  # customer_token | service_token | member
    created_at: Mapped[datetime] = mapped_column(index=True)
    followup_to: Mapped[str | None] = mapped_column(String(320))
    followup_via: Mapped[str | None] = mapped_column(String(16))  # slack | email | none
    followup_done_at: Mapped[datetime | None]

    __table_args__ = (UniqueConstraint("conversation_id", "epoch", name="uq_support_rating"),)


class SupportCallback(Base):
    """A callback the customer asked for in the conversation ("call me tomorrow morning"): one
    per customer message, a task for `owner` due at `due_at` (UTC; `timezone` is the zone the
    customer's words were read in). The SLA timer (a `support_callback_due` job at `due_at`)
    reminds the owner, then escalates to the support lead if it is still open."""

    __tablename__ = "support_callbacks"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("support_conversations.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int] = mapped_column(Integer, unique=True)
    asked: Mapped[str] = mapped_column(String(200))  # the customer's words for the time
    phone: Mapped[str | None] = mapped_column(String(32))
    due_at: Mapped[datetime] = mapped_column(index=True)
    timezone: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str | None] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    breaches: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    reminded_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    escalated_to: Mapped[str | None] = mapped_column(String(320))
    done_at: Mapped[datetime | None]
    done_by: Mapped[str | None] = mapped_column(String(320))
    notified: Mapped[bool] = mapped_column(Boolean, default=False)
