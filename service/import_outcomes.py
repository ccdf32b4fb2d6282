"""Where imported leads went: per lead its band, route, owner and whether an approval card was
created, for `hitl ingest` (and any surface that imports a file) to tell the person who ran it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select

from service.ingest import IngestResult, ingest_events
from service.runtime import AppRuntime
from service.schemas import EventIn
from store.tables import Approval, Lead


@dataclass(frozen=True)
class LeadOutcome:
    lead_id: str
    email: str
    band: str | None
    score: float | None
    route: str | None
    stage: str
    owner: str | None            # the roster key (Slack id or email)
    owner_name: str | None       # the roster member's name, when the owner is on the roster
    approval_id: str | None      # the lead's newest approval card, if any
    approval_status: str | None
    assignee_name: str | None
    card_created: bool           # that card was created by this import's processing
    disqualifiers: list[str] = field(default_factory=list)
    suppression_reason: str | None = None



@dataclass
class ImportSummary:
    result: IngestResult = field(default_factory=IngestResult)
    outcomes: list[LeadOutcome] = field(default_factory=list)

    def counts(self) -> dict[str, Counter[str]]:
        return {
            "band": Counter(o.band or "unscored" for o in self.outcomes),
            "route": Counter(o.route or "not routed" for o in self.outcomes),
        }

    @property
    def cards(self) -> int:
        return sum(o.card_created for o in self.outcomes)


def ingest_in_batches(rt: AppRuntime, events: list[EventIn], *, batch_size: int = 500,
                      on_batch: Callable[[int], None] | None = None) -> IngestResult:
    """`ingest_events` over a validated file, `batch_size` events per transaction (each batch
    all or nothing; an event stored by an earlier batch is a duplicate on a re-run)."""
    total = IngestResult()
    order: dict[str, str] = {}
    for start in range(0, len(events), batch_size):
        chunk = events[start:start + batch_size]
        result = ingest_events(rt, chunk)
        total.accepted += result.accepted
        total.duplicates += result.duplicates
        for ref in result.leads:
            order.setdefault(ref["lead_id"], ref["email"])
        if on_batch is not None:
            on_batch(len(chunk))
    total.leads = [{"lead_id": lead_id, "email": email} for lead_id, email in order.items()]
    return total


def lead_outcomes(rt: AppRuntime, lead_ids: list[str], *, since: datetime
                  ) -> list[LeadOutcome]:
    """The state of each lead (in the given order) and its newest approval, marked as created by
    this import when it was created at or after `since`."""
    if not lead_ids:
        return []
    found: dict[str, LeadOutcome] = {}
    with rt.db.read() as session:
        leads = {lead.id: lead for lead in session.scalars(
            select(Lead).where(Lead.id.in_(lead_ids)))}
        approvals: dict[str, Approval] = {}
        for approval in session.scalars(
                select(Approval).where(Approval.lead_id.in_(lead_ids))
                .order_by(Approval.created_at, Approval.version)):
            approvals[approval.lead_id] = approval  # the newest wins
        for lead_id in lead_ids:
            lead = leads.get(lead_id)
            if lead is None or lead.erased_at is not None:
                continue
            approval = approvals.get(lead_id)
            found[lead_id] = LeadOutcome(
                lead_id=lead.id, email=lead.email or "", band=lead.band, score=lead.score,
                route=lead.route, stage=lead.stage, owner=lead.owner,
                owner_name=_name(rt, lead.owner),
                approval_id=approval.id if approval else None,
                approval_status=approval.status if approval else None,
                assignee_name=_name(rt, approval.assignee) if approval else None,
                card_created=approval is not None and _aware(approval.created_at) >= since,
                disqualifiers=[_code(d) for d in lead.disqualifiers or []],
                suppression_reason=lead.suppression_reason)
    return [found[lead_id] for lead_id in lead_ids if lead_id in found]


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)  # SQLite drops the zone


def _name(rt: AppRuntime, key: str | None) -> str | None:
    member = rt.roster.find(key)
    return member.name if member is not None else None


def _code(item: object) -> str:
    if isinstance(item, dict):
        return str(item.get("code") or item)
    return str(item)
