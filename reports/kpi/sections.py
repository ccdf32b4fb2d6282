"""The KPI report's sections beyond the handoff summary: recycled leads coming back, meetings
set, and the support conversations (from `service.support_kpis`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from reports.kpi.records import HandoffRecord, rate, utc
from reports.kpi.summary import p
from service.support_kpis import support_kpis
from store.tables import Event

if TYPE_CHECKING:
    from service.runtime import AppRuntime

MEETING_WINDOW = timedelta(days=30)


def _hand_raise_events(session: Session, lead_ids: Iterable[str], policy: Any
                       ) -> dict[str, list[tuple[datetime, str]]]:
    """(occurred_at, type) of hand-raises and booked meetings per lead."""
    forms = {f.lower() for f in policy.routing.hand_raise_forms}
    kinds = set(policy.routing.hand_raise_events) | {"form_submit", "meeting_booked"}
    found: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    ids = list(lead_ids)
    for start in range(0, len(ids), 500):
        rows = session.execute(select(Event.lead_id, Event.type, Event.occurred_at,
                                      Event.properties)
                               .where(Event.lead_id.in_(ids[start:start + 500]),
                                      Event.type.in_(kinds)))
        for lead_id, kind, at, props in rows:
            if kind == "form_submit" and str((props or {}).get("form", "")).lower() not in forms:
                continue
            found[lead_id].append((utc(at), kind))  # type: ignore[arg-type]
    return found


def recycling_section(session: Session, records: Sequence[HandoffRecord], policy: Any
                      ) -> dict[str, Any]:
    """Rejected leads recycled to nurture, and how many came back with a new hand-raise."""
    recycle_codes = {code for code, rule in policy.dispositions.items()
                     if rule.stage == "recycled"}
    recycled = [r for r in records if r.final_action == "reject"
                and r.reason_code in recycle_codes and r.closed_at]
    later_handoffs: dict[str, list[datetime]] = defaultdict(list)
    for r in records:
        later_handoffs[r.lead_id].append(r.created_at)
    events = _hand_raise_events(session, {r.lead_id for r in recycled}, policy)
    returned, days = 0, []
    by_reason: dict[str, dict[str, int]] = defaultdict(lambda: {"recycled": 0, "returned": 0})
    for r in recycled:
        assert r.closed_at is not None
        after = [at for at in later_handoffs[r.lead_id] if at > r.closed_at]
        after += [at for at, _ in events.get(r.lead_id, []) if at > r.closed_at]
        by_reason[str(r.reason_code)]["recycled"] += 1
        if after:
            returned += 1
            by_reason[str(r.reason_code)]["returned"] += 1
            days.append((min(after) - r.closed_at).total_seconds() / 86400)
    return {"recycled": len(recycled), "returned": returned,
            "return_to_intent_rate": rate(returned, len(recycled)),
            "days_to_return_p50": p(days, 0.5),
            "by_reason": dict(by_reason)}


def meetings_section(session: Session, records: Sequence[HandoffRecord], policy: Any
                     ) -> dict[str, Any]:
    """Meetings set: `meeting_set` dispositions, and meetings booked within 30 days of a send."""
    dispositions = {r.lead_id for r in records if r.reason_code == "meeting_set"}
    sent = [r for r in records if r.sent_at]
    events = _hand_raise_events(session, {r.lead_id for r in sent}, policy)
    booked = set()
    for r in sent:
        assert r.sent_at is not None
        if any(kind == "meeting_booked" and r.sent_at < at <= r.sent_at + MEETING_WINDOW
               for at, kind in events.get(r.lead_id, [])):
            booked.add(r.lead_id)
    leads = dispositions | booked
    return {"meetings_set": len(leads), "from_disposition": len(dispositions),
            "booked_after_email": len(booked), "emails_sent": len(sent),
            "meetings_per_email": rate(len(booked), len(sent))}


def support_report(rt: AppRuntime, *, since: datetime | None, now: datetime) -> dict[str, Any]:
    """The support section: the support service's own `support_kpis`, in this report's shape."""
    # Its window is [since, until): end just after `now` so "now" is included.
    raw = support_kpis(rt, since or datetime(1970, 1, 1, tzinfo=UTC), now + timedelta(seconds=1))
    return from_support_kpis(raw)


def from_support_kpis(raw: dict[str, Any]) -> dict[str, Any]:
    """`service.support_kpis.support_kpis` output in this report's shape (extras kept)."""
    conversations = int(raw.get("conversations") or 0)
    transfers = int(raw.get("transfers") or 0)
    if not conversations and not transfers:
        return {"available": False, "reason": "no data: no support conversations yet"}
    claim = raw.get("time_to_claim_s") or {}
    preference = raw.get("human_preference") or {}
    resolution = raw.get("resolution_after_transfer") or {}
    by_trigger = raw.get("transfer_rate_by_trigger") or {}
    return {
        "available": True,
        "source": "service.support_kpis",
        "conversations": conversations,
        "transfers": transfers,
        "transfer_rate": raw.get("transfer_rate"),
        "by_trigger": sorted(({"trigger": t, "transfers": v.get("transfers", 0),
                               "share_of_conversations": v.get("rate")}
                              for t, v in by_trigger.items()), key=lambda r: -r["transfers"]),
        "time_to_claim": {"p50": claim.get("median"), "p90": claim.get("p90"),
                          "n": claim.get("claimed", 0)},
        "claimed_rate": rate(int(claim.get("claimed") or 0), transfers),
        "waiting_unclaimed": claim.get("unclaimed", 0),
        "escalated_unclaimed": claim.get("escalated", 0),
        "outcomes": {k: resolution.get(k, 0) for k in ("resolved", "handed_back", "open")},
        "resolution_rate": resolution.get("rate"),
        "human_preference": preference.get("bot_could_answer", 0),
        "human_preference_rate": preference.get("rate"),
        "bot_replies": raw.get("bot_replies", {}),
    }
