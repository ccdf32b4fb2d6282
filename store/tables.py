"""The relational schema. One table per domain noun; Alembic migrations in store/migrations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on SQLite (which stores naive text) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware UTC datetime")
        from datetime import UTC

        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        from datetime import UTC

        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


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
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
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

    __table_args__ = (UniqueConstraint("handoff_id", "version", name="uq_approvals_version"),)


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
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class Job(Base):
    """A durable unit of background work (process a lead, run a graph, deliver mail, a timer).

    Claimed with a lease; on PostgreSQL with FOR UPDATE SKIP LOCKED so replicas never share one.
    """

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Set while queued so the same work is not queued twice; cleared when claimed.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    run_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # The first failure of the current streak: the retry budget is measured from here.
    failing_since: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_jobs_due", "run_at"), Index("ix_jobs_failed", "failed_at", "kind"))


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


# -- support conversations (warm transfer to a person) ----------------------------------------

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


# -- operations ---------------------------------------------------------------------------------

class WorkerHeartbeat(Base):
    """One row per running worker process (`hitl worker`, a `hitl serve` child or its inline
    threads), written when it polls the job queue: at its first poll, then at most every few
    seconds. `/readyz` is 200 once some worker's `beats` moved after the server started, a
    comparison of counters, so it holds across hosts whose clocks differ (migration 0008)."""

    __tablename__ = "worker_heartbeats"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    beat_at: Mapped[datetime] = mapped_column(index=True)
    beats: Mapped[int] = mapped_column(Integer, default=1)
