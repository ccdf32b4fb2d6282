"""The KPI report's one record per handoff, read from the store: signal -> card -> first
decision -> send, SLA, the final decision, edits, escalations and the reject reason."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.edit_pairs import EditPair
from reports.kpi.edits import normalized_edit_distance
from reports.kpi.edits import word_edit_distance as _word_distance
from service.edit_pairs import load_edit_pairs
from service.lifecycle import SEND_STATUS, OutboxStatus
from store.tables import Approval, Decision, Handoff, Lead, OutboxMessage

QUICK_APPROVAL_S = 30


def utc(at: Any) -> datetime | None:
    """`at` (a datetime, naive meaning UTC, or an ISO string) in UTC; None stays None."""
    if at is None:
        return None
    if isinstance(at, str):
        at = datetime.fromisoformat(at.replace("Z", "+00:00"))
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def seconds(start: datetime | None, end: datetime | None) -> float | None:
    """Seconds from `start` to `end` (never negative), None when either is missing."""
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def week_of(at: datetime) -> date:
    """The Monday (UTC) of the ISO week `at` falls in."""
    day = at.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


def rate(part: int, whole: int) -> float | None:
    """part / whole to four places, None for an empty whole."""
    return round(part / whole, 4) if whole else None


@dataclass
class HandoffRecord:
    """Everything the report needs about one handoff, from the store."""

    id: str
    lead_id: str
    route: str
    band: str
    rep: str
    week: date
    policy_version: str
    prompt_version: str
    created_at: datetime
    first_signal_at: datetime | None
    carded_at: datetime | None
    first_decision_at: datetime | None = None
    final_action: str | None = None       # approve | edit | reject (None: still pending)
    final_at: datetime | None = None
    sent_at: datetime | None = None
    outcome: str | None = None
    closed_at: datetime | None = None
    sla_due_at: datetime | None = None
    reason_code: str | None = None
    escalated: bool = False
    revised: bool = False
    # The approved email's delivery (service.lifecycle.SEND_STATUS words); None if no email.
    send_status: str | None = None
    send_detail: str | None = None
    outbox_id: str | None = None
    quick: bool = False
    edit_words: int | None = None
    edit_share: float | None = None
    actions: list[str] = field(default_factory=list)

    def sla_status(self, now: datetime) -> str | None:
        """met | missed | open | None (no SLA: nurture, disqualified)."""
        if self.sla_due_at is None:
            return None
        if self.first_decision_at is not None:
            return "met" if self.first_decision_at <= self.sla_due_at else "missed"
        return "missed" if now > self.sla_due_at else "open"


def load_records(session: Session, *, since: datetime | None, roster_names: dict[str, str]
                 ) -> tuple[list[HandoffRecord], list[EditPair]]:
    """Every handoff created since `since` (None: all) as a record, and the edit pairs."""
    query = select(Handoff)
    if since is not None:
        query = query.where(Handoff.created_at >= since)
    handoffs = list(session.scalars(query.order_by(Handoff.created_at, Handoff.id)))
    ids = [h.id for h in handoffs]
    approvals: dict[str, list[Approval]] = defaultdict(list)
    decisions: dict[str, Decision] = {}
    sent: dict[str, OutboxMessage] = {}
    bands: dict[str, str | None] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for a in session.scalars(select(Approval).where(Approval.handoff_id.in_(chunk))):
            approvals[a.handoff_id].append(a)
        for d in session.scalars(select(Decision).where(Decision.handoff_id.in_(chunk))):
            decisions[d.approval_id] = d
        lead_ids = {h.lead_id for h in handoffs[start:start + 500]}
        bands.update(session.execute(select(Lead.id, Lead.band)
                                     .where(Lead.id.in_(lead_ids))).all())
    approval_ids = [a.id for group in approvals.values() for a in group]
    for start in range(0, len(approval_ids), 500):
        for m in session.scalars(select(OutboxMessage).where(
                OutboxMessage.approval_id.in_(approval_ids[start:start + 500]))):
            sent[m.approval_id] = m

    records = []
    for h in handoffs:
        versions = sorted(approvals.get(h.id, []), key=lambda a: a.version)
        first = versions[0] if versions else None
        band = ((first.context or {}).get("band") if first else None) or bands.get(h.lead_id)
        rep = first.assignee if first else (h.assignee or "unassigned")
        record = HandoffRecord(
            id=h.id, lead_id=h.lead_id, route=h.route, band=str(band or "unknown"),
            rep=rep, week=week_of(h.created_at), policy_version=h.policy_version,
            prompt_version=(first.prompt_version if first else None) or "no draft",
            created_at=h.created_at, first_signal_at=utc(h.first_signal_at),
            carded_at=utc(h.carded_at), outcome=h.outcome, closed_at=utc(h.closed_at),
            sla_due_at=utc(h.sla_due_at),
        )
        ordered = [(a, decisions[a.id]) for a in versions if a.id in decisions]
        ordered.sort(key=lambda pair: pair[1].created_at)
        for approval, decision in ordered:
            at = utc(decision.created_at)
            record.actions.append(decision.action)
            if record.first_decision_at is None:
                record.first_decision_at = at
            if decision.action == "escalate":
                record.escalated = True
            elif decision.action == "revise":
                record.revised = True
            elif decision.action in ("approve", "edit", "reject"):
                record.final_action, record.final_at = decision.action, at
                # Credit goes to whoever decided (after an escalation, not the first holder).
                record.rep = decision.actor
                record.reason_code = (decision.payload or {}).get("reason_code")
                message = sent.get(approval.id)
                if message is not None:
                    record.send_status = SEND_STATUS.get(message.status, "failed")
                    record.send_detail = message.status_detail
                    record.outbox_id = message.id
                    if message.status == OutboxStatus.SENT:
                        record.sent_at = utc(message.sent_at)
                if decision.action == "approve":
                    waited = seconds(utc(approval.created_at), at)
                    record.quick = waited is not None and waited < QUICK_APPROVAL_S
                if decision.action == "edit":
                    payload = decision.payload or {}
                    before = f"{approval.subject}\n\n{approval.body}"
                    after = f"{payload.get('subject') or approval.subject}\n\n" \
                            f"{payload.get('body') or approval.body}"
                    record.edit_words = _word_distance(before, after)
                    record.edit_share = round(normalized_edit_distance(before, after), 4)
        records.append(record)
    pairs = load_edit_pairs(session, since=since, rep_names=lambda actor: [
        name for name in (roster_names.get(actor),) if name])
    return records, pairs


