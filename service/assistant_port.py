"""The assistant's window on the store, for one roster member (agent/assistant/state.py).

Visibility lives here, once: a rep sees the leads they own or hold a handoff for; a manager
sees every lead. Every read goes through `visible_leads()`, so a lead outside that set answers
exactly as a lead that does not exist.
"""

from __future__ import annotations

import hashlib
import statistics
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from agent.assistant.state import (
    ContentHit,
    KpiView,
    LeadRef,
    MemberRef,
    QueueItem,
    QueueView,
    SignalLine,
    WhyNowView,
)
from agent.context.signals import signal_detail
from agent.models import Signal
from agent.policy import Member
from service.errors import NotFound
from service.leads import build_context, load_signals
from service.lifecycle import ApprovalStatus, OutboxStatus
from service.runtime import AppRuntime
from store.tables import Approval, AssistantProposal, Handoff, Lead, OutboxMessage

MAX_VISIBLE = 5_000  # a manager's fuzzy match runs over the most recently updated leads
HISTORY_EVENTS = 8


def lead_ref(lead: Any) -> LeadRef:
    name = " ".join(p for p in (lead.first_name, lead.last_name) if p) or \
        (lead.email or "").split("@")[0] or lead.id
    return LeadRef(lead_id=lead.id, name=name[:200], company=(lead.company or None))


def member_keys(member: Member) -> set[str]:
    return {k for k in (member.key, member.email, member.slack_id) if k}


class StoreAssistantPort:
    """Reads, proposals and executions for `member`, in conversation `conversation_key`."""

    def __init__(self, rt: AppRuntime, member: Member, *, conversation_key: str = "",
                 reply_id: str = "") -> None:
        self.rt = rt
        self.member = member
        self.conversation_key = conversation_key
        self.reply_id = reply_id
        self._visible: list[LeadRef] | None = None

    # -- visibility ---------------------------------------------------------------------------

    def _theirs(self, query: Any) -> Any:
        """`query` over leads narrowed to those the member may see: not erased, and (for a
        rep) owned by them or held by them in an active handoff."""
        query = query.where(Lead.erased_at.is_(None))
        if self.member.role == "manager":
            return query
        keys = member_keys(self.member)
        holding = select(Handoff.lead_id).where(Handoff.active.is_(True),
                                                Handoff.assignee.in_(keys))
        return query.where(or_(Lead.owner.in_(keys), Lead.id.in_(holding)))

    def visible_leads(self) -> list[LeadRef]:
        if self._visible is None:
            query = self._theirs(
                select(Lead.id, Lead.first_name, Lead.last_name, Lead.company, Lead.email)
            ).order_by(Lead.updated_at.desc()).limit(MAX_VISIBLE)
            with self.rt.db.read() as session:
                self._visible = [lead_ref(row) for row in session.execute(query)]
        return self._visible

    def still_theirs(self, session: Session, lead_id: str) -> bool:
        """Whether the member may act on the lead now, read in the caller's transaction (not
        from a listing): a proposal is approved later than it was made, and the lead may have
        moved since."""
        return session.scalar(self._theirs(select(Lead.id).where(Lead.id == lead_id))) \
            is not None

    def may_see(self, lead_id: str) -> bool:
        return any(lead.lead_id == lead_id for lead in self.visible_leads())

    def me(self) -> MemberRef:
        return MemberRef(key=self.member.key, name=self.member.name, role=self.member.role)

    def team(self) -> list[MemberRef]:
        return [MemberRef(key=m.key, name=m.name, role=m.role) for m in self.rt.roster.members
                if m.role in ("rep", "manager")]

    def today(self) -> tuple[date, str]:
        tz = self.member.timezone or self.rt.policy.business_hours.timezone
        return self.rt.clock.now().astimezone(ZoneInfo(tz)).date(), tz

    # -- reads --------------------------------------------------------------------------------

    def queue(self) -> QueueView:
        now = self.rt.clock.now()
        keys = member_keys(self.member)
        with self.rt.db.read() as session:
            rows = session.execute(
                select(Handoff, Approval, Lead)
                .join(Lead, Lead.id == Handoff.lead_id)
                .outerjoin(Approval, (Approval.handoff_id == Handoff.id)
                           & (Approval.status == ApprovalStatus.PENDING.value))
                .where(Handoff.active.is_(True), Handoff.assignee.in_(keys))
                .order_by(Handoff.sla_due_at.is_(None), Handoff.sla_due_at, Handoff.created_at)
            ).all()
            items = []
            for handoff, approval, lead in rows:
                due = approval.sla_due_at if approval is not None else handoff.sla_due_at
                items.append(QueueItem(
                    lead=lead_ref(lead), kind="approval" if approval is not None else "handoff",
                    status=handoff.status, approval_id=approval.id if approval else None,
                    band=lead.band, sla_due_at=due, overdue=due is not None and due < now,
                    subject=approval.subject if approval is not None else None))
        return QueueView(items=items, overdue=sum(i.overdue for i in items), now=now)

    def why_now(self, lead_id: str) -> WhyNowView | None:
        if not self.may_see(lead_id):
            return None
        try:
            package = build_context(self.rt, lead_id)
        except NotFound:
            return None
        now = self.rt.clock.now()
        with self.rt.db.read() as session:
            lead = session.get(Lead, lead_id)
            if lead is None:
                return None
            events = load_signals(session, lead_id, since=now - timedelta(days=365))
            ref, owner, stage = lead_ref(lead), lead.owner, lead.stage
        member = self.rt.roster.find(owner)
        return WhyNowView(
            lead=ref, why_now=package.why_now, band=package.band, score=package.score,
            route=package.route, owner=member.name if member else owner, stage=stage,
            top_signals=[SignalLine(event_id=s.event_id, occurred_at=s.occurred_at,
                                    detail=s.detail) for s in package.top_signals],
            risks=[r.detail for r in package.risks],
            next_step=package.recommended_action.next_step,
            history=[_history_line(s) for s in sorted(events, key=lambda s: s.occurred_at,
                                                      reverse=True)[:HISTORY_EVENTS]])

    def kpis(self, days: int) -> KpiView:
        now = self.rt.clock.now()
        since = now - timedelta(days=days)
        keys = member_keys(self.member)
        with self.rt.db.read() as session:
            decided = session.execute(
                select(Approval.created_at, Approval.decided_at, Approval.sla_due_at)
                .where(Approval.decided_by.in_(keys), Approval.decided_at >= since)).all()
            sent = session.scalar(
                select(func.count()).select_from(OutboxMessage)
                .join(Approval, Approval.id == OutboxMessage.approval_id)
                .where(Approval.decided_by.in_(keys), OutboxMessage.sent_at >= since,
                       OutboxMessage.status == OutboxStatus.SENT.value)) or 0
            overdue = session.scalar(
                select(func.count()).select_from(Approval)
                .where(Approval.assignee.in_(keys),
                       Approval.status == ApprovalStatus.PENDING.value,
                       Approval.sla_due_at < now)) or 0
        pairs: list[tuple[datetime, datetime, datetime | None]] = [
            (c, d, due) for c, d, due in decided if c is not None and d is not None]
        minutes = [(d - c).total_seconds() / 60 for c, d, _ in pairs]
        within = sum(1 for _, d, due in pairs if due is None or d <= due)
        return KpiView(days=days, decided=len(pairs), within_sla=within, overdue_now=overdue,
                       median_minutes_to_decision=statistics.median(minutes) if minutes else None,
                       sent=sent)

    def search_content(self, query: str) -> list[ContentHit]:
        library = self.rt.content_library
        if library is None or not query.strip():
            return []
        return [ContentHit(title=a.title, kind=a.kind, path=a.path, summary=a.summary)
                for a in library.recommend(query, k=3)]

    # -- proposals ----------------------------------------------------------------------------

    def open_proposal(self, key: str, action: str, args: dict[str, Any], description: str,
                      lead_id: str | None) -> str:
        """Record a pending proposal, once per (reply, key)."""
        digest = hashlib.sha256(f"{self.reply_id}:{key}".encode()).hexdigest()[:24]
        proposal_id = f"prop_{digest}"
        with self.rt.db.session() as session:
            if session.get(AssistantProposal, proposal_id) is None:
                session.add(AssistantProposal(
                    id=proposal_id, reply_id=self.reply_id,
                    conversation_key=self.conversation_key, member_key=self.member.key,
                    lead_id=lead_id, action=action, args=args, description=description,
                    status="pending", created_at=self.rt.clock.now()))
        return proposal_id

    def execute_proposal(self, proposal_id: str) -> str:
        from service.assistant_actions import execute

        return execute(self.rt, self.member, proposal_id)

    def reject_proposal(self, proposal_id: str) -> str:
        return "Rejected: nothing was changed."


def _history_line(signal: Signal) -> SignalLine:
    form = signal.properties.get("form") if signal.type == "form_submit" else None
    label = f"{str(form)[:40]} form" if form else str(signal.type).replace("_", " ")
    try:
        detail = signal_detail(signal, label)
    except Exception:  # an odd stored event still belongs in the history, by its type
        detail = label
    return SignalLine(event_id=signal.event_id, occurred_at=signal.occurred_at, detail=detail)
