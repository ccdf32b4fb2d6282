"""Which Slack messages the app posted about whom: the erasure's map of Slack.

Every `chat.postMessage` made through `slack_app.web.call` while a job runs inside
`posting_for(rt, kind, payload)` is recorded here with the lead or support conversation it is
about (ids only, never text). The subject is read from the job's payload when the job starts
(before an erasure could remove what names it): an `approval_id` or `lead_id` names a lead, a
`transfer_id` or a support `message_id` a conversation, and a reply in a thread inherits its
root's subject.

A message posted after its subject was erased (a job that was already running) is queued for
redaction at once, so an erasure never misses a message that raced it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Connection, Table, bindparam, delete, or_, select
from sqlalchemy.orm import Session

from service.jobs import enqueue, insert_unless_present
from service.runtime import AppRuntime
from store.tables import (
    Approval,
    Lead,
    SlackCard,
    SlackMessageLog,
    SupportConversation,
    SupportMessage,
    SupportTransfer,
)

log = logging.getLogger(__name__)

REDACT_JOB = "slack_redact_messages"
_LOG: Table = SlackMessageLog.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Subject:
    """Whom a message is about: a lead, a support conversation, or (both None) nobody."""

    lead_id: str | None = None
    conversation_id: str | None = None

    def __bool__(self) -> bool:
        return bool(self.lead_id or self.conversation_id)


@dataclass(frozen=True)
class PostingContext:
    """What the current thread is posting for: the runtime, the job kind and its subject."""

    rt: AppRuntime
    kind: str
    subject: Subject


_CONTEXT: ContextVar[PostingContext | None] = ContextVar("slack_posting_context", default=None)


@contextmanager
def posting_for(rt: AppRuntime, kind: str, payload: Mapping[str, Any]) -> Iterator[None]:
    """Record every message posted inside the block as being about this job's subject."""
    with rt.db.read_connection() as connection:  # Core reads only: no Session needed
        subject = _subject(connection, payload)
    with posting_about(rt, kind, subject):
        yield


@contextmanager
def posting_about(rt: AppRuntime, kind: str, subject: Subject) -> Iterator[None]:
    """`posting_for` with the subject already known (a job that read it in its own read)."""
    token = _CONTEXT.set(PostingContext(rt, kind, subject))
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def current_context() -> PostingContext | None:
    return _CONTEXT.get()


def record_post(context: PostingContext, *, channel: str, ts: str,
                thread_ts: str | None) -> bool:
    """Log one posted message; True when it is about a lead or a conversation."""
    with context.rt.db.transaction() as connection:
        logged, erased = record_post_on(connection, context, channel=channel, ts=ts,
                                        thread_ts=thread_ts)
    if erased:
        after_late_post(context)
    return logged


def record_post_on(connection: Connection, context: PostingContext, *, channel: str, ts: str,
                   thread_ts: str | None) -> tuple[bool, bool]:
    """`record_post` inside the caller's transaction, on its Core connection (the card job
    commits the log row with the card's own row). Returns (logged, erased): when erased, call
    `after_late_post` once the transaction committed."""
    rt = context.rt
    subject = context.subject
    if not subject and thread_ts:
        subject = thread_subject(connection, channel, thread_ts)
    if not subject:
        return False, False
    erased = _erased(connection, rt, subject)
    erasure_id = f"late_{uuid.uuid4().hex[:20]}" if erased else None
    now = rt.clock.now()
    connection.execute(insert_unless_present(connection.dialect.name, _LOG, ("channel", "ts")), {
        "channel": channel, "ts": ts, "thread_ts": thread_ts,
        # An erased subject's ids are not kept: the row only waits for its redaction.
        "lead_id": None if erased else subject.lead_id,
        "conversation_id": None if erased else subject.conversation_id,
        "kind": context.kind[:40], "posted_at": now, "erasure_id": erasure_id,
    })
    if erased:  # a post that raced an erasure: redact it once this transaction commits
        enqueue(connection, REDACT_JOB, {"erasure_id": erasure_id}, now=now)
    return True, erased


def after_late_post(context: PostingContext) -> None:
    """A message went out after its subject was erased; its redaction is queued: wake the
    worker."""
    log.info("a %s message was posted after its subject was erased; redaction queued",
             context.kind)
    context.rt.notify_work()


def _subject(session: Session | Connection, payload: Mapping[str, Any]) -> Subject:
    lead_id = payload.get("lead_id")
    if isinstance(lead_id, str) and lead_id:
        return Subject(lead_id=lead_id)
    approval_id = payload.get("approval_id")
    if isinstance(approval_id, str) and approval_id:
        found = session.scalar(select(Approval.lead_id).where(Approval.id == approval_id))
        found = found or session.scalar(select(SlackCard.lead_id)
                                        .where(SlackCard.approval_id == approval_id))
        if found:
            return Subject(lead_id=found)
    transfer_id = payload.get("transfer_id")
    if isinstance(transfer_id, str) and transfer_id:
        found = session.scalar(select(SupportTransfer.conversation_id)
                               .where(SupportTransfer.id == transfer_id))
        if found:
            return Subject(conversation_id=found)
    message_id = payload.get("message_id")
    if isinstance(message_id, int):
        found = session.scalar(select(SupportMessage.conversation_id)
                               .where(SupportMessage.id == message_id))
        if found:
            return Subject(conversation_id=found)
    channel, thread_ts = payload.get("channel"), payload.get("thread_ts")
    if isinstance(channel, str) and isinstance(thread_ts, str):
        return thread_subject(session, channel, thread_ts)
    return Subject()


def thread_subject(session: Session | Connection, channel: str, thread_ts: str) -> Subject:
    """Whom a thread is about: its logged root, or the card or transfer card it hangs under."""
    row = session.execute(select(SlackMessageLog.lead_id, SlackMessageLog.conversation_id)
                          .where(SlackMessageLog.channel == channel,
                                 SlackMessageLog.ts == thread_ts)).first()
    if row is not None and (row.lead_id or row.conversation_id):
        return Subject(lead_id=row.lead_id, conversation_id=row.conversation_id)
    lead_id = session.scalar(select(SlackCard.lead_id).where(
        SlackCard.channel == channel,
        or_(SlackCard.thread_ts == thread_ts, SlackCard.ts == thread_ts)).limit(1))
    if lead_id:
        return Subject(lead_id=lead_id)
    conversation_id = session.scalar(select(SupportTransfer.conversation_id).where(
        SupportTransfer.slack_channel == channel, SupportTransfer.slack_ts == thread_ts))
    return Subject(conversation_id=conversation_id)


def _erased(connection: Connection, rt: AppRuntime, subject: Subject) -> bool:
    """Whether the subject is gone. On PostgreSQL the share lock waits for an erasure in
    progress (it holds the row FOR UPDATE), so the answer is the committed one; SQLite has one
    writer at a time anyway."""
    stmt = _exists_statement(bool(subject.lead_id), not rt.db.is_sqlite)
    return connection.scalar(stmt, {"id": subject.lead_id or subject.conversation_id}) is None


@cache
def _exists_statement(lead: bool, share_lock: bool) -> Any:
    """Built once: the subject's row, share-locked where the database can."""
    stmt = (select(Lead.id).where(Lead.id == bindparam("id")) if lead
            else select(SupportConversation.id).where(SupportConversation.id == bindparam("id")))
    return stmt.with_for_update(read=True) if share_lock else stmt


def pending_redactions(rt: AppRuntime, erasure_id: str) -> list[tuple[str, str]]:
    """(channel, ts) of every message one erasure queued for redaction, thread replies first."""
    with rt.db.read() as session:
        rows = session.execute(select(SlackMessageLog.channel, SlackMessageLog.ts)
                               .where(SlackMessageLog.erasure_id == erasure_id)
                               .order_by(SlackMessageLog.thread_ts.is_(None),
                                         SlackMessageLog.id)).all()
    return [(row.channel, row.ts) for row in rows]


def forget(rt: AppRuntime, channel: str, ts: str) -> None:
    """Drop a message from the log once it was redacted (or is gone from Slack)."""
    with rt.db.session() as session:
        session.execute(delete(SlackMessageLog).where(SlackMessageLog.channel == channel,
                                                      SlackMessageLog.ts == ts))
