"""Support conversations, their messages and warm transfers to a person."""

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
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from store.tables.base import Base, name_key_index


class SupportConversation(Base):
    """A customer's support conversation. `status` says who speaks for us: the bot, nobody yet
    (`waiting_for_human`), a person (`human`, named by `owner`), or nobody (`resolved`).

    `epoch` numbers the bot sessions: a hand-back from a person starts a new one, so triggers
    count only what happened since. `busy_until` is a short lease that serialises the
    processing of one conversation's messages across threads and replicas.
    """

    __tablename__ = "support_conversations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_email: Mapped[str | None] = mapped_column(String(320), index=True)
    customer_name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(24), default="bot")
    owner: Mapped[str | None] = mapped_column(String(320))
    transfer_id: Mapped[str | None] = mapped_column(String(40))
    epoch: Mapped[int] = mapped_column(Integer, default=1)
    busy_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    # SHA-256 (hex) of the conversation token handed out with the first message: proof that a
    # reader or writer is the customer. The token itself is never stored (migration 0009).
    token_hash: Mapped[str | None] = mapped_column(String(64))


# The content check looks support contacts up by the key of their name (`name_key`).
name_key_index("ix_support_conversations_customer_name_key",
               SupportConversation.__table__.c.customer_name)


class SupportMessage(Base):
    """One message of a conversation, in order of `id`. `source_key` makes every write
    idempotent (the bot's answer to message N, a Slack message's channel and ts)."""

    __tablename__ = "support_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("support_conversations.id", ondelete="CASCADE"))
    epoch: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))  # customer | bot | agent | system
    text: Mapped[str] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(String(320))
    at: Mapped[datetime]
    reply_to: Mapped[int | None] = mapped_column(Integer)
    transfer_id: Mapped[str | None] = mapped_column(String(40), index=True)
    source_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Set once the message is in the transfer card's Slack thread.
    slack_ts: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (Index("ix_support_messages_conversation", "conversation_id", "id"),)


class SupportTransfer(Base):
    """A warm transfer (the API's `handoff`): why, the package, who claimed it, how it ended.

    One active transfer per conversation (partial unique index). The claim is a conditional
    UPDATE on `status = 'waiting'`: of concurrent claimers exactly one wins.
    """

    __tablename__ = "support_transfers"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("support_conversations.id", ondelete="CASCADE"), index=True)
    epoch: Mapped[int] = mapped_column(Integer)
    trigger: Mapped[str] = mapped_column(String(32), index=True)
    trigger_detail: Mapped[str] = mapped_column(Text)
    also: Mapped[list[Any]] = mapped_column(default=list)
    bot_could_answer: Mapped[bool] = mapped_column(Boolean, default=False)
    trigger_message_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    # waiting -> claimed -> resolved | handed_back (or waiting -> resolved | handed_back)
    status: Mapped[str] = mapped_column(String(16), default="waiting", index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    owner: Mapped[str | None] = mapped_column(String(320))
    package: Mapped[dict[str, Any]] = mapped_column(default=dict)
    policy_version: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(index=True)
    claimed_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    escalated_to: Mapped[str | None] = mapped_column(String(320))
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(320))
    note: Mapped[str | None] = mapped_column(Text)
    slack_channel: Mapped[str | None] = mapped_column(String(40))
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    transcript_posted: Mapped[bool] = mapped_column(Boolean, default=False)
    escalation_posted: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        Index(
            "uq_support_transfers_one_active",
            "conversation_id",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
        Index("ix_support_transfers_card", "slack_channel", "slack_ts"),
    )
