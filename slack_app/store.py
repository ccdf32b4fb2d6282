"""The Slack surface's own persistence: where each card lives and which deliveries were handled.

Everything a listener needs to find again is in the database, never in process memory, so any
replica (and any worker) can answer the next click or thread reply. The few reads of approval
history below are read-only views for rendering; every change goes through `service.approvals`.
The support side records here only where a transfer's card and thread live and which messages
Slack already shows; claims, replies and closing go through `service.conversations`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import Connection, Row, Table, and_, bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agent.support.models import TranscriptLine
from service.approvals import approval_view
from service.jobs import insert_unless_present
from service.leads import load_signals
from service.runtime import AppRuntime
from store.tables import (
    Approval,
    Decision,
    Lead,
    SlackCard,
    SlackEventReceipt,
    SupportMessage,
    SupportTransfer,
)

RECEIPT_TTL = timedelta(days=2)
_CARDS: Table = SlackCard.__table__  # type: ignore[assignment]
# A CardLocation's fields, in order: the card job reads them as the last columns of its row.
_CARD_FIELDS = ("approval_id", "handoff_id", "lead_id", "version", "assignee", "channel", "ts",
                "thread_ts", "history_posted")


@dataclass(frozen=True)
class CardLocation:
    approval_id: str
    handoff_id: str
    lead_id: str
    version: int
    assignee: str
    channel: str
    ts: str
    thread_ts: str
    history_posted: bool

    @property
    def is_root(self) -> bool:
        return self.ts == self.thread_ts


def _location(row: SlackCard | Row[Any]) -> CardLocation:
    return CardLocation(row.approval_id, row.handoff_id, row.lead_id, row.version, row.assignee,
                        row.channel, row.ts, row.thread_ts, row.history_posted)


def get_card(rt: AppRuntime, approval_id: str) -> CardLocation | None:
    with rt.db.read() as session:
        return card_in(session, approval_id)


def card_in(session: Session, approval_id: str) -> CardLocation | None:
    row = session.get(SlackCard, approval_id)
    return _location(row) if row else None


def save_card_on(connection: Connection, card: CardLocation, *, now: datetime
                 ) -> tuple[CardLocation, str | None]:
    """Record a posted card in the caller's transaction (the card job commits it together with
    the message log's row for it); if another worker recorded one first, keep and return theirs.

    Also returns the approval's status as of this commit: a decision recorded while the card
    was being posted must be rendered onto it."""
    inserted = connection.execute(_insert_card(connection.dialect.name), {
        "approval_id": card.approval_id, "handoff_id": card.handoff_id,
        "lead_id": card.lead_id, "version": card.version, "assignee": card.assignee,
        "channel": card.channel, "ts": card.ts, "thread_ts": card.thread_ts,
        "history_posted": card.history_posted, "posted_at": now, "updated_at": None,
    }).first()
    if inserted is None:  # another worker recorded one first: theirs stands
        row = connection.execute(_reads().card, {"approval_id": card.approval_id}).first()
        assert row is not None
        card = _location(row)
    return card, connection.scalar(_reads().status, {"approval_id": card.approval_id})


@cache
def _insert_card(dialect: str) -> Any:
    """Record a card unless one is recorded for that approval; returns a row when it inserted."""
    return insert_unless_present(dialect, _CARDS, ("approval_id",)).returning(
        _CARDS.c.approval_id)


def mark_history_posted(rt: AppRuntime, approval_id: str) -> None:
    with rt.db.session() as session:
        session.execute(update(SlackCard).where(SlackCard.approval_id == approval_id)
                        .values(history_posted=True))


def touch_card(rt: AppRuntime, approval_id: str) -> None:
    with rt.db.session() as session:
        session.execute(update(SlackCard).where(SlackCard.approval_id == approval_id)
                        .values(updated_at=rt.clock.now()))


def cards_in_thread(rt: AppRuntime, channel: str, thread_ts: str) -> list[CardLocation]:
    with rt.db.read() as session:
        rows = session.scalars(select(SlackCard).where(SlackCard.channel == channel,
                                                       SlackCard.thread_ts == thread_ts)
                               .order_by(SlackCard.version))
        return [_location(r) for r in rows]


def cards_for_lead(rt: AppRuntime, lead_id: str) -> list[CardLocation]:
    with rt.db.read() as session:
        rows = session.scalars(select(SlackCard).where(SlackCard.lead_id == lead_id))
        return [_location(r) for r in rows]


def forget_cards(rt: AppRuntime, approval_ids: list[str]) -> None:
    with rt.db.session() as session:
        session.execute(delete(SlackCard).where(SlackCard.approval_id.in_(approval_ids)))


# -- delivery receipts -------------------------------------------------------------------------

def claim_delivery(rt: AppRuntime, keys: list[str]) -> bool:
    """True for the first delivery carrying any of these keys, False for a retry or duplicate.

    All keys are written in one transaction: either this delivery owns them all or none.
    """
    now = rt.clock.now()
    try:
        with rt.db.session() as session:
            # Slack retries within minutes; older receipts only take space (indexed, cheap).
            session.execute(delete(SlackEventReceipt).where(
                SlackEventReceipt.received_at < now - RECEIPT_TTL))
            existing = session.scalar(select(SlackEventReceipt.event_key)
                                      .where(SlackEventReceipt.event_key.in_(keys)).limit(1))
            if existing is not None:
                return False
            session.add_all([SlackEventReceipt(event_key=k, received_at=now) for k in keys])
    except IntegrityError:  # a concurrent delivery of the same event won the insert
        return False
    return True


def release_delivery(rt: AppRuntime, keys: list[str]) -> None:
    """Forget a claim whose work failed, so Slack's retry can do it."""
    with rt.db.session() as session:
        session.execute(delete(SlackEventReceipt).where(SlackEventReceipt.event_key.in_(keys)))


# -- read-only views of the decision history, for rendering ------------------------------------

def decision_view(rt: AppRuntime, approval_id: str) -> dict[str, Any] | None:
    with rt.db.read() as session:
        return decision_in(session, approval_id)


def decision_in(session: Session, approval_id: str) -> dict[str, Any] | None:
    return decision_on(session.connection(), approval_id)


def decision_on(conn: Connection, approval_id: str) -> dict[str, Any] | None:
    row = conn.execute(_reads().decision, {"approval_id": approval_id}).first()
    if row is None:
        return None
    return {"decision_id": row.id, "action": row.action, "actor": row.actor,
            "payload": dict(row.payload or {}), "created_at": row.created_at}


def handoff_versions(rt: AppRuntime, handoff_id: str) -> list[dict[str, Any]]:
    """Every approval version of a handoff, oldest first, each with its decision (or None)."""
    with rt.db.read() as session:
        approvals = list(session.scalars(select(Approval).where(Approval.handoff_id == handoff_id)
                                          .order_by(Approval.version)))
        decisions = {d.approval_id: d for d in session.scalars(
            select(Decision).where(Decision.handoff_id == handoff_id))}
        out = []
        for approval in approvals:
            decision = decisions.get(approval.id)
            out.append({"approval": approval_view(approval), "decision": None if decision is None
                        else {"action": decision.action, "actor": decision.actor,
                              "payload": dict(decision.payload or {}),
                              "created_at": decision.created_at}})
        return out


def latest_version(rt: AppRuntime, handoff_id: str) -> dict[str, Any] | None:
    """The newest approval of a handoff (the one a thread reply is about)."""
    with rt.db.read() as session:
        return latest_version_in(session, handoff_id)


def latest_version_in(session: Session, handoff_id: str) -> dict[str, Any] | None:
    row = session.scalar(_reads().latest_version, {"handoff_id": handoff_id})
    return approval_view(row) if row else None


def lead_heading_in(session: Session, lead_id: str) -> dict[str, Any] | None:
    """What a card's title shows of the lead (None once erased)."""
    row = session.execute(_reads().lead_heading, {"lead_id": lead_id}).first()
    return None if row is None else dict(row._mapping)


class _Reads(NamedTuple):
    latest_version: Any
    lead_heading: Any
    card_job: Any
    card: Any
    decision: Any
    status: Any


@cache
def _reads() -> _Reads:
    """The card job's reads, built once (it runs them for every card)."""
    approvals: Table = Approval.__table__  # type: ignore[assignment]
    leads: Table = Lead.__table__  # type: ignore[assignment]
    decisions: Table = Decision.__table__  # type: ignore[assignment]
    newest, versions = approvals.alias("newest"), approvals.alias("versions")
    newest_version = (select(func.max(versions.c.version))
                      .where(versions.c.handoff_id == approvals.c.handoff_id)
                      .correlate(approvals).scalar_subquery())
    card_job = (
        select(approvals, leads.c.id.label("lead_row"),
               leads.c.first_name.label("lead_first_name"),
               leads.c.last_name.label("lead_last_name"), leads.c.email.label("lead_email"),
               leads.c.company.label("lead_company"),
               leads.c.disqualifiers.label("lead_disqualifiers"), newest.c.id.label("newest_id"),
               newest.c.version.label("newest_version"),
               newest.c.assignee.label("newest_assignee"),
               *(_CARDS.c[name].label(f"card_{name}") for name in _CARD_FIELDS))
        .select_from(approvals
                     .outerjoin(leads, and_(leads.c.id == approvals.c.lead_id,
                                            leads.c.erased_at.is_(None)))
                     .outerjoin(newest, and_(newest.c.handoff_id == approvals.c.handoff_id,
                                             newest.c.version == newest_version))
                     # One row per card of the handoff (usually none: one row, card columns
                     # NULL), so the cards come with the approval instead of in a second read.
                     .outerjoin(_CARDS, _CARDS.c.handoff_id == approvals.c.handoff_id))
        .where(approvals.c.id == bindparam("approval_id")).order_by(_CARDS.c.version))
    return _Reads(
        latest_version=select(Approval).where(Approval.handoff_id == bindparam("handoff_id"))
        .order_by(Approval.version.desc()).limit(1),
        lead_heading=select(Lead.first_name, Lead.last_name, Lead.email, Lead.company,
                            Lead.disqualifiers)
        .where(Lead.id == bindparam("lead_id"), Lead.erased_at.is_(None)),
        card_job=card_job,
        card=select(_CARDS).where(_CARDS.c.approval_id == bindparam("approval_id")),
        decision=select(decisions.c.id, decisions.c.action, decisions.c.actor,
                        decisions.c.payload, decisions.c.created_at)
        .where(decisions.c.approval_id == bindparam("approval_id")),
        status=select(approvals.c.status).where(approvals.c.id == bindparam("approval_id")),
    )


class CardRead(NamedTuple):
    """What the card job needs, read together: the approval (None once erased), every card of
    its handoff, the lead's heading (None once erased), the handoff's newest approval
    (`approval_id`, `version`, `assignee`) and, once decided, its decision (`decision_in`)."""

    approval: dict[str, Any] | None
    cards: list[CardLocation]
    lead: dict[str, Any] | None
    newest: dict[str, Any] | None
    decision: dict[str, Any] | None = None


def card_read_on(conn: Connection, approval_id: str) -> CardRead:
    """One Core statement (the approval with its lead's heading, its handoff's newest version
    and its handoff's cards, oldest first) instead of an ORM load for each, on a Core
    connection (the card job needs no Session); a second for the decision only when the
    approval has one."""
    rows = conn.execute(_reads().card_job, {"approval_id": approval_id}).all()
    if not rows:
        return CardRead(None, [], None, None)
    row, first_card_column = rows[0], -len(_CARD_FIELDS)
    cards = [CardLocation(*r[first_card_column:]) for r in rows if r.card_approval_id is not None]
    # card_facts renders a decision only for these statuses; pending cards need no third read.
    decision = (None if row.status in ("pending", "superseded")
                else decision_on(conn, approval_id))
    lead = None if row.lead_row is None else {
        "first_name": row.lead_first_name, "last_name": row.lead_last_name,
        "email": row.lead_email, "company": row.lead_company,
        "disqualifiers": row.lead_disqualifiers}
    newest = None if row.newest_id is None else {
        "approval_id": row.newest_id, "version": row.newest_version,
        "assignee": row.newest_assignee}
    return CardRead(approval_view(row), cards, lead, newest,  # type: ignore[arg-type]
                    decision)


def handoff_signals(rt: AppRuntime, lead_id: str, *, since: datetime,
                    limit: int = 40) -> tuple[list[dict[str, Any]], int]:
    """The lead's signals since `since` (newest `limit` of them, oldest first) and their count."""
    with rt.db.session() as session:
        signals = load_signals(session, lead_id, since=since)
    total = len(signals)
    return [{"event_id": s.event_id, "type": s.type, "occurred_at": s.occurred_at,
             "detail": _signal_detail(s.type, s.properties)} for s in signals[-limit:]], total


def _signal_detail(kind: str, props: dict[str, Any]) -> str:
    """A short human line for a raw event (the context package only details its top three)."""
    interesting = ("form", "url", "campaign", "name", "metric", "change_pct", "subject",
                   "status", "source")
    facts = ", ".join(f"{k}: {props[k]}" for k in interesting if props.get(k) is not None)
    label = kind.replace("_", " ")
    return f"{label} ({facts[:200]})" if facts else label


# -- support transfers: where each card and thread lives, what Slack already shows ------------

def transfer_location(rt: AppRuntime, transfer_id: str) -> tuple[str | None, str | None, bool]:
    """(channel, card ts, transcript posted?) of a transfer's card; (None, None, False) before
    it is posted or once the transfer is gone."""
    with rt.db.read() as session:
        t = session.get(SupportTransfer, transfer_id)
        if t is None:
            return None, None, False
        return t.slack_channel, t.slack_ts, t.transcript_posted


def save_transfer_card(rt: AppRuntime, transfer_id: str, channel: str, ts: str) -> None:
    """Record where a transfer's card was posted; the first recorded post wins."""
    with rt.db.session() as session:
        session.execute(update(SupportTransfer).where(
            SupportTransfer.id == transfer_id, SupportTransfer.slack_ts.is_(None)
        ).values(slack_channel=channel, slack_ts=ts))


def transcript_so_far(rt: AppRuntime, conversation_id: str) -> tuple[list[TranscriptLine], int]:
    """The conversation's messages so far and the id of the last one (0 if none): what the
    transcript posts; later messages are relayed one by one."""
    with rt.db.read() as session:
        rows = list(session.scalars(select(SupportMessage).where(
            SupportMessage.conversation_id == conversation_id).order_by(SupportMessage.id)))
        lines = [TranscriptLine(role=m.role, text=m.text, at=m.at, author=m.author)  # type: ignore[arg-type]
                 for m in rows]
        return lines, rows[-1].id if rows else 0


def mark_transcript_posted(rt: AppRuntime, transfer_id: str, conversation_id: str,
                           upto: int) -> None:
    """The transcript is in the thread: its messages (ids up to `upto`) need no relay."""
    with rt.db.session() as session:
        session.execute(update(SupportMessage).where(
            SupportMessage.conversation_id == conversation_id,
            SupportMessage.id <= upto, SupportMessage.slack_ts.is_(None)
        ).values(slack_ts="transcript"))
        session.execute(update(SupportTransfer).where(SupportTransfer.id == transfer_id)
                        .values(transcript_posted=True))


def message_to_relay(rt: AppRuntime, message_id: int) -> tuple[str, TranscriptLine] | None:
    """(transfer id, line) of a message still to show in its transfer's thread; None when it
    is gone, already shown, or not part of a transfer."""
    with rt.db.read() as session:
        message = session.get(SupportMessage, message_id)
        if message is None or message.slack_ts or not message.transfer_id:
            return None
        return message.transfer_id, TranscriptLine(
            role=message.role, text=message.text, at=message.at, author=message.author)  # type: ignore[arg-type]


def mark_relayed(rt: AppRuntime, message_id: int, slack_ts: str) -> None:
    """A message is now in its transfer's thread (at `slack_ts`)."""
    with rt.db.session() as session:
        session.execute(update(SupportMessage).where(SupportMessage.id == message_id)
                        .values(slack_ts=slack_ts))


def escalation_posted(rt: AppRuntime, transfer_id: str) -> bool | None:
    """Whether the support lead was already called in on Slack (None: no such transfer)."""
    with rt.db.read() as session:
        return session.scalar(select(SupportTransfer.escalation_posted)
                              .where(SupportTransfer.id == transfer_id))


def mark_escalation_posted(rt: AppRuntime, transfer_id: str) -> None:
    """The support lead's thread mention and DM are out; a rerun of the job posts nothing."""
    with rt.db.session() as session:
        session.execute(update(SupportTransfer).where(SupportTransfer.id == transfer_id)
                        .values(escalation_posted=True))
