"""The rep's assistant (issue 17): its replies (with the rep's feedback) and its proposals.

A proposal is a state change the assistant suggested and the rep must approve. Its row is the
record of the decision: the conditional UPDATE from `pending` is the "first click wins", and
`executed_at` makes execution happen once however often the graph resumes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.tables.base import Base


class AssistantReply(Base):
    __tablename__ = "assistant_replies"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    conversation_key: Mapped[str] = mapped_column(String(200))
    member_key: Mapped[str] = mapped_column(String(320))
    # What the rep asked is not kept (it may quote customer text); the reply's tools and leads
    # are, for the evals.
    tools_used: Mapped[list[Any]] = mapped_column(default=list)
    lead_ids: Mapped[list[Any]] = mapped_column(default=list)
    source: Mapped[str] = mapped_column(String(16))  # offline | model
    created_at: Mapped[datetime]
    helpful: Mapped[bool | None] = mapped_column(Boolean)
    feedback_at: Mapped[datetime | None]
    # The surface's idempotency key for the message answered (Slack: f"{channel}:{ts}"): asked
    # again with it, `service.assistant.ask` returns this reply instead of answering twice.
    message_key: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (Index("ix_assistant_replies_member", "member_key", "created_at"),
                      Index("ux_assistant_replies_message", "member_key", "message_key",
                            unique=True))


class AssistantProposal(Base):
    __tablename__ = "assistant_proposals"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    reply_id: Mapped[str] = mapped_column(String(40), index=True)
    conversation_key: Mapped[str] = mapped_column(String(200))
    member_key: Mapped[str] = mapped_column(String(320), index=True)
    # Goes with its lead when the lead is erased.
    lead_id: Mapped[str | None] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"),
                                                index=True)
    action: Mapped[str] = mapped_column(String(32))
    args: Mapped[dict[str, Any]] = mapped_column(default=dict)
    description: Mapped[str] = mapped_column(Text)
    # pending -> approved -> executed | failed; pending -> rejected
    status: Mapped[str] = mapped_column(String(16), default="pending")
    decided_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)
    executed_at: Mapped[datetime | None]
    result: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class AssistantConversation(Base):
    """One row per assistant conversation (checkpoint thread), for its turn lease: two asks in
    the same conversation take turns (service.turn_lease), so neither drops the other's history.
    Keyed by a hash of the thread id (the member and the Slack thread): ids only, no text."""

    __tablename__ = "assistant_conversations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    busy_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
