"""Erasure of a person everywhere the product keeps them: `DELETE /v1/leads/{id}` and
`DELETE /v1/customers/{email}`.

One coordinator over every store, in this order:

1. The store, in one transaction: the lead's events, handoffs, approvals, decisions, outbox,
   audit entries and Slack card rows; the support conversations, messages and transfers of the
   same email; queued jobs whose payload names any of them; support audit entries that mention
   them are kept as a record of who did what, with their details blanked. In the same
   transaction the Slack messages the app posted about the person (`slack_message_log`, plus
   cards and transcript lines recorded before that log existed) are queued for redaction
   (`slack_redact_messages`, retried through Slack outages), and so is the cleanup below.
2. The cleanup (`erasure_cleanup`), run at once and left queued only if it fails: LangGraph
   checkpoint threads (the handoffs', `support:<conversation id>` and the rep's assistant's
   conversations and proposals that quoted the lead, `erasure_assistant`; checkpoints and
   writes),
   the lead's documents in every Chroma collection (by `lead_id` metadata, and the learned
   style examples by approval id), then the embedded Chroma store compacted
   (`tools.chroma_erasure`).
3. SQLite: the write-ahead log folded back and truncated. Every connection runs with
   `secure_delete`, so freed pages are zeroed rather than left holding the text.

Event ids are kept only as hashes so a replayed webhook cannot bring the person back. The
report says what went where: rows per table, checkpoint threads, Chroma documents per
collection, Slack messages queued for redaction.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Text, cast, delete, func, or_, select, text, update
from sqlalchemy.orm import Session

from agent.email_rules import AddressError, lead_address
from service.audit import audit
from service.crm_identities import HUBSPOT_DELIVERIES_JOB, hubspot_contact_ids
from service.erasure_assistant import AssistantTrace, forget_rows, posted_in, trace
from service.erasure_cleanup import CLEANUP_JOB, ChromaErasure, release_sqlite, run_cleanup
from service.errors import InvalidInput, NotFound
from service.ids import hash_event_id, new_id
from service.jobs import enqueue, insert_ignoring_conflicts
from service.runtime import AppRuntime
from store.tables import (
    Approval,
    AuditEntry,
    Decision,
    ErasedEvent,
    Event,
    Handoff,
    Job,
    Lead,
    OutboxMessage,
    SlackCard,
    SlackMessageLog,
    SupportConversation,
    SupportMessage,
    SupportTransfer,
)

log = logging.getLogger(__name__)

REDACT_JOB = "slack_redact_messages"  # handled by slack_app.jobs.redact_messages
# The cleanup runs inline first; its queued copy waits this long before a worker may take it.
CLEANUP_GRACE = timedelta(minutes=10)
REDACTED_DETAIL = {"redacted": "personal data erased on request"}


class CheckpointErasure(BaseModel):
    threads: int = Field(description="LangGraph threads deleted (checkpoints and writes)")


class SlackErasure(BaseModel):
    messages: int = Field(description="messages the app posted about the person")
    status: Literal["queued", "nothing_posted"]
    detail: str


class ErasureReport(BaseModel):
    """What one erasure removed, store by store."""

    lead_id: str | None
    erased: bool = True
    events: int
    handoffs: int
    conversations: int
    store: dict[str, int] = Field(description="rows deleted per table (audit_log_redacted: "
                                              "entries kept with their details blanked)")
    checkpoints: CheckpointErasure
    chroma: ChromaErasure
    slack: SlackErasure


@dataclass
class _Person:
    """Every id the store holds about one person, read before anything is deleted."""

    lead_id: str | None
    email: str | None
    event_ids: list[str] = field(default_factory=list)
    handoff_ids: list[str] = field(default_factory=list)
    approval_ids: list[str] = field(default_factory=list)
    outbox_ids: list[str] = field(default_factory=list)
    conversation_ids: list[str] = field(default_factory=list)
    transfer_ids: list[str] = field(default_factory=list)
    message_ids: list[int] = field(default_factory=list)
    hubspot_contacts: set[int] = field(default_factory=set)  # HubSpot contact ids (objectId)
    assignees: list[str] = field(default_factory=list)  # who held its approvals (Home tabs)
    assistant: AssistantTrace = field(default_factory=AssistantTrace)

    @property
    def threads(self) -> list[str]:
        # Support threads are prefixed (service.support_inbox.thread_config), the assistant's
        # too (service.assistant_threads).
        return [*self.handoff_ids, *(f"support:{c}" for c in self.conversation_ids),
                *self.assistant.threads]

    def names(self) -> set[str]:
        """Ids that, found as a value in a job payload, mean the job is about this person."""
        return {*filter(None, [self.lead_id]), *self.event_ids, *self.handoff_ids,
                *self.approval_ids, *self.outbox_ids, *self.conversation_ids,
                *self.transfer_ids}


def erase_lead(rt: AppRuntime, lead_id: str, *, actor: str) -> ErasureReport:
    """Erase a lead and everything kept about the same person (support included)."""
    return _erase(rt, actor=actor, lead_id=lead_id, email=None)


def erase_customer(rt: AppRuntime, email: str, *, actor: str) -> ErasureReport:
    """Erase whoever is known under `email`: support conversations, and the lead if any."""
    return _erase(rt, actor=actor, lead_id=None, email=_address(email))


def _address(value: str) -> str:
    """The canonical address to look up; lenient enough for addresses stored by older rules."""
    value = value.strip()
    try:
        return lead_address(value)
    except AddressError as exc:
        shape_ok = value.count("@") == 1 and len(value) <= 320 and value.isprintable() \
            and not any(c.isspace() for c in value)
        if not shape_ok:
            raise InvalidInput(f"email {exc.problem}", field="email") from None
        return value.lower()


def _erase(rt: AppRuntime, *, actor: str, lead_id: str | None,
           email: str | None) -> ErasureReport:
    now = rt.clock.now()
    erasure_id = new_id("er")
    with rt.db.session() as session:
        if rt.db.is_sqlite:
            session.execute(text("PRAGMA secure_delete=ON"))  # whatever the connection's default
        person = _find(session, rt, lead_id=lead_id, email=email)
        posted = _queue_slack_redaction(session, rt, person, erasure_id)
        slack_messages = len(posted)
        rows = _delete_rows(session, person, posted)
        for event_id in person.event_ids:
            session.merge(ErasedEvent(event_id_hash=hash_event_id(event_id), erased_at=now))
        audit(session, rt, actor=actor,
              action="lead_erased" if person.lead_id else "customer_erased", lead_id=None,
              subject_id=person.lead_id, erasure_id=erasure_id,
              **{k: v for k, v in rows.items() if v})
        # The Slack job also publishes again the Home tabs that may list the lead's approvals.
        homes = person.assignees if rt.settings.slack_enabled else []
        if slack_messages or homes:
            enqueue(session, REDACT_JOB, {"erasure_id": erasure_id, "assignees": homes},
                    now=now, dedupe_key=f"{REDACT_JOB}:{erasure_id}")
        cleanup = {"erasure_id": erasure_id, "lead_id": person.lead_id,
                   "threads": person.threads,
                   "chroma_ids": _style_ids(person.approval_ids)}
        enqueue(session, CLEANUP_JOB, cleanup, now=now, run_at=now + CLEANUP_GRACE,
                dedupe_key=f"{CLEANUP_JOB}:{erasure_id}")

    try:
        threads, chroma = run_cleanup(rt, cleanup)
    except Exception as exc:  # the queued copy retries it; the person is already out of the store
        log.exception("erasure %s: cleanup failed, left queued", erasure_id)
        threads = 0
        chroma = ChromaErasure(documents={}, compacted=False, status="queued",
                               detail=f"checkpoints and Chroma: queued for retry ({exc})"[:300])
    else:
        with rt.db.session() as session:  # done: the queued copy is not needed
            session.execute(delete(Job).where(Job.dedupe_key == f"{CLEANUP_JOB}:{erasure_id}"))
    if slack_messages or homes:
        rt.notify_work()
    release_sqlite(rt)
    return ErasureReport(
        lead_id=person.lead_id, events=len(person.event_ids), handoffs=len(person.handoff_ids),
        conversations=len(person.conversation_ids), store=rows,
        checkpoints=CheckpointErasure(threads=threads), chroma=chroma,
        slack=SlackErasure(
            messages=slack_messages, status="queued" if slack_messages else "nothing_posted",
            detail=(f"{slack_messages} message(s) queued for redaction (chat.update to a "
                    "notice), retried until Slack confirms" if slack_messages
                    else "the app posted nothing about this person")))


def _find(session: Session, rt: AppRuntime, *, lead_id: str | None,
          email: str | None) -> _Person:
    """Read every id about the person (rows locked on PostgreSQL); NotFound when unknown."""
    lock = not rt.db.is_sqlite  # SQLite: the session's BEGIN IMMEDIATE already excludes writers
    if lead_id is not None:
        lead = session.get(Lead, lead_id, with_for_update=lock)
        if lead is None:
            raise NotFound(f"lead {lead_id} not found")
    else:
        stmt = select(Lead).where(func.lower(Lead.email) == email)
        lead = session.scalars(stmt.with_for_update() if lock else stmt).first()
    if lead is not None:
        email = (lead.email or "").lower() or email
    person = _Person(lead_id=lead.id if lead else None, email=email)
    if lead is not None:
        person.event_ids = list(session.scalars(select(Event.event_id)
                                                .where(Event.lead_id == lead.id)))
        person.handoff_ids = list(session.scalars(select(Handoff.id)
                                                  .where(Handoff.lead_id == lead.id)))
        approvals = session.execute(select(Approval.id, Approval.assignee)
                                    .where(Approval.lead_id == lead.id)).all()
        person.approval_ids = [a.id for a in approvals]
        person.assignees = sorted({a.assignee for a in approvals if a.assignee})
        person.outbox_ids = list(session.scalars(select(OutboxMessage.id)
                                                 .where(OutboxMessage.lead_id == lead.id)))
        person.assistant = trace(session, lead.id)
        person.hubspot_contacts = hubspot_contact_ids(session, lead.id)
    if email:
        conversations = select(SupportConversation.id).where(
            func.lower(SupportConversation.customer_email) == email)
        person.conversation_ids = list(session.scalars(
            conversations.with_for_update() if lock else conversations))
    if person.conversation_ids:
        person.transfer_ids = list(session.scalars(select(SupportTransfer.id).where(
            SupportTransfer.conversation_id.in_(person.conversation_ids))))
        person.message_ids = list(session.scalars(select(SupportMessage.id).where(
            SupportMessage.conversation_id.in_(person.conversation_ids))))
    if lead is None and not person.conversation_ids:
        raise NotFound("no lead and no support conversation is known under that email")
    return person


def _queue_slack_redaction(session: Session, rt: AppRuntime, person: _Person,
                           erasure_id: str) -> set[tuple[str, str]]:
    """Mark every message the app posted about the person for the redaction job; returns
    their (channel, ts). Cards, transfer cards and relayed lines recorded before the message
    log existed are added to it first, so they are redacted too."""
    now = rt.clock.now()
    known: list[dict[str, Any]] = []
    if person.lead_id:
        for card in session.execute(select(SlackCard.channel, SlackCard.ts, SlackCard.thread_ts)
                                    .where(SlackCard.lead_id == person.lead_id)):
            known.append({"channel": card.channel, "ts": card.ts, "lead_id": person.lead_id,
                          "thread_ts": None if card.thread_ts == card.ts else card.thread_ts,
                          "kind": "slack_post_approval"})
    if person.conversation_ids:
        transfers = session.execute(
            select(SupportTransfer.id, SupportTransfer.conversation_id,
                   SupportTransfer.slack_channel, SupportTransfer.slack_ts)
            .where(SupportTransfer.conversation_id.in_(person.conversation_ids),
                   SupportTransfer.slack_ts.is_not(None))).all()
        where = {t.id: (t.slack_channel, t.slack_ts) for t in transfers}
        for t in transfers:
            known.append({"channel": t.slack_channel, "ts": t.slack_ts, "thread_ts": None,
                          "conversation_id": t.conversation_id, "kind": "support_post_card"})
        for m in session.execute(
                select(SupportMessage.conversation_id, SupportMessage.transfer_id,
                       SupportMessage.slack_ts)
                .where(SupportMessage.conversation_id.in_(person.conversation_ids),
                       SupportMessage.slack_ts.is_not(None))):
            channel, root = where.get(m.transfer_id or "", (None, None))
            if channel and root and m.slack_ts not in ("transcript", "posted"):
                known.append({"channel": channel, "ts": m.slack_ts, "thread_ts": root,
                              "conversation_id": m.conversation_id, "kind": "support_relay"})
    if known:
        session.execute(insert_ignoring_conflicts(session, SlackMessageLog, [
            {"lead_id": None, "conversation_id": None, "posted_at": now, "erasure_id": None,
             **row} for row in known], ["channel", "ts"]))
    about: list[Any] = []
    if person.lead_id:
        about.append(SlackMessageLog.lead_id == person.lead_id)
    if person.conversation_ids:
        about.append(SlackMessageLog.conversation_id.in_(person.conversation_ids))
    about += posted_in(person.assistant.places)  # the assistant's answers in those DM threads
    # The ids go: the rows only wait for their redaction, then are deleted.
    session.execute(update(SlackMessageLog).where(or_(*about))
                    .values(erasure_id=erasure_id, lead_id=None, conversation_id=None))
    return {(row.channel, row.ts) for row in session.execute(
        select(SlackMessageLog.channel, SlackMessageLog.ts)
        .where(SlackMessageLog.erasure_id == erasure_id))}


def _delete_rows(session: Session, person: _Person,
                 posted: set[tuple[str, str]]) -> dict[str, int]:
    """Delete the person's rows, children first; returns the count per table."""
    rows: dict[str, int] = {}

    def gone(table: str, statement: Any) -> None:
        result: Any = session.execute(statement)  # a CursorResult: DML has a rowcount
        rows[table] = rows.get(table, 0) + int(result.rowcount or 0)

    rows["jobs"] = _delete_jobs(session, person, posted)
    gone("audit_log_redacted", _redact_audit(person))
    if person.lead_id:
        lead_id = person.lead_id
        gone("outbox", delete(OutboxMessage).where(OutboxMessage.lead_id == lead_id))
        gone("decisions", delete(Decision).where(or_(
            Decision.approval_id.in_(person.approval_ids),
            Decision.handoff_id.in_(person.handoff_ids))))
        gone("approvals", delete(Approval).where(Approval.lead_id == lead_id))
        gone("handoffs", delete(Handoff).where(Handoff.lead_id == lead_id))
        gone("events", delete(Event).where(Event.lead_id == lead_id))
        gone("audit_log", delete(AuditEntry).where(AuditEntry.lead_id == lead_id))
        gone("slack_cards", delete(SlackCard).where(SlackCard.lead_id == lead_id))
        rows.update(forget_rows(session, lead_id))
        gone("leads", delete(Lead).where(Lead.id == lead_id))
    if person.conversation_ids:
        ids = person.conversation_ids
        gone("support_messages", delete(SupportMessage)
             .where(SupportMessage.conversation_id.in_(ids)))
        gone("support_transfers", delete(SupportTransfer)
             .where(SupportTransfer.conversation_id.in_(ids)))
        gone("support_conversations", delete(SupportConversation)
             .where(SupportConversation.id.in_(ids)))
    return rows


def _delete_jobs(session: Session, person: _Person, posted: set[tuple[str, str]]) -> int:
    """Queued or parked jobs whose payload names the person (ids, support message ids, the
    email anywhere in a text, a reply into one of their Slack threads). Few rows are queued at
    any time, so they are read and matched here rather than by dialect-specific JSON queries."""
    names = person.names()
    message_ids = set(person.message_ids)
    email = (person.email or "").lower()

    def about(value: Any, key: str = "") -> bool:
        if isinstance(value, dict):
            return any(about(v, str(k)) for k, v in value.items())
        if isinstance(value, list):
            return any(about(v, key) for v in value)
        if isinstance(value, str):
            return value in names or bool(email and email in value.lower())
        return key == "message_id" and isinstance(value, int) and value in message_ids

    def in_their_thread(payload: dict[str, Any]) -> bool:
        return (str(payload.get("channel")), str(payload.get("thread_ts"))) in posted

    def theirs(delivery: Any) -> bool:  # one of a HubSpot job's deliveries
        return isinstance(delivery, dict) and (
            delivery.get("objectId") in person.hubspot_contacts or about(delivery))

    doomed: list[int] = []
    for job_id, kind, payload in session.execute(select(Job.id, Job.kind, Job.payload)):
        if not isinstance(payload, dict):
            continue
        if kind == HUBSPOT_DELIVERIES_JOB and isinstance(payload.get("deliveries"), list):
            # A delivery job carries many contacts' changes (a surname, an address): the
            # person's are taken out by their contact id, the others' left to run.
            others = [d for d in payload["deliveries"] if not theirs(d)]
            if not others:
                doomed.append(job_id)
            elif len(others) < len(payload["deliveries"]):
                session.execute(update(Job).where(Job.id == job_id)
                                .values(payload={**payload, "deliveries": others}))
        elif about(payload) or in_their_thread(payload):
            doomed.append(job_id)
    if doomed:
        session.execute(delete(Job).where(Job.id.in_(doomed)))
    return len(doomed)


def _redact_audit(person: _Person) -> Any:
    """Audit entries that are not the lead's own (those are deleted) but name the person:
    support transfers and conversations, or the address in a detail. Kept, details blanked."""
    detail = func.lower(cast(AuditEntry.detail, Text))
    mentions: list[ColumnElement[bool]] = [
        AuditEntry.subject_id.in_([*person.transfer_ids, *person.conversation_ids])]
    # As JSON writes them: quoted ids, the address with JSON's escaping.
    for value in person.conversation_ids:
        mentions.append(detail.contains(json.dumps(value).lower(), autoescape=True))
    if person.email:
        mentions.append(detail.contains(json.dumps(person.email)[1:-1].lower(),
                                        autoescape=True))
    not_the_leads = (AuditEntry.lead_id.is_(None) if person.lead_id is None
                     else or_(AuditEntry.lead_id.is_(None), AuditEntry.lead_id != person.lead_id))
    return (update(AuditEntry).where(not_the_leads, or_(*mentions))
            .values(detail=REDACTED_DETAIL, subject_id=None))


def _style_ids(approval_ids: list[str]) -> dict[str, list[str]]:
    """Style examples are stored under their approval id (older ones carry no `lead_id`)."""
    from tools.style_examples import COLLECTION

    return {COLLECTION: list(approval_ids)} if approval_ids else {}
