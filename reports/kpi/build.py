"""`hitl report`: what happened in production, read from the store.

One record per handoff (signal -> card -> first decision -> send, SLA, the final decision, edits,
escalations, the reject reason), then the same summary over every slice a manager asks about:
week, band, rep (aggregated, for coaching), prompt version and policy version. Approval-as-is is
always reported next to the edit rate, with the share of approvals made within 30 seconds of the
card, so rubber-stamping is visible.

Support conversations (transfers by trigger, time to claim, human preference) come from the
support tables when they exist; `support_section` is the one place to extend as they grow.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import MetaData, Table, func, inspect, select
from sqlalchemy.orm import Session

from evals.edits import EditPair, edit_summary, load_edit_pairs, normalized_edit_distance
from evals.edits import word_edit_distance as _word_distance
from service.lifecycle import SEND_STATUS

if TYPE_CHECKING:
    from service.runtime import AppRuntime

SCHEMA = 1
QUICK_APPROVAL_S = 30
MEETING_WINDOW = timedelta(days=30)
HUMAN_ROUTES = ("hand_raise", "strategic", "band_a")
Progress = Callable[[str], None]


def _utc(at: Any) -> datetime | None:
    if at is None:
        return None
    if isinstance(at, str):
        at = datetime.fromisoformat(at.replace("Z", "+00:00"))
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def week_of(at: datetime) -> date:
    """The Monday (UTC) of the ISO week `at` falls in."""
    day = at.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (k - low), 2)


def _rate(part: int, whole: int) -> float | None:
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
    from store.tables import Approval, Decision, Handoff, Lead, OutboxMessage

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
                                     .where(Lead.id.in_(lead_ids))).tuples().all())
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
            created_at=h.created_at, first_signal_at=_utc(h.first_signal_at),
            carded_at=_utc(h.carded_at), outcome=h.outcome, closed_at=_utc(h.closed_at),
            sla_due_at=_utc(h.sla_due_at),
        )
        ordered = [(a, decisions[a.id]) for a in versions if a.id in decisions]
        ordered.sort(key=lambda pair: pair[1].created_at)
        for approval, decision in ordered:
            at = _utc(decision.created_at)
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
                    if message.status == "sent":
                        record.sent_at = _utc(message.sent_at)
                if decision.action == "approve":
                    waited = _seconds(_utc(approval.created_at), at)
                    record.quick = waited is not None and waited < QUICK_APPROVAL_S
                if decision.action == "edit":
                    payload = decision.payload or {}
                    before = f"{approval.subject}\n\n{approval.body}"
                    after = f"{payload.get('subject') or approval.subject}\n\n" \
                            f"{payload.get('body') or approval.body}"
                    record.edit_words = _word_distance(before, after)
                    record.edit_share = round(normalized_edit_distance(before, after), 4)
        records.append(record)
    pairs = load_edit_pairs(session, since=since, rep_names=roster_names)
    return records, pairs


DecidedOutcome = Literal["approved", "edited", "rejected", "send_pending", "send_blocked",
                         "send_failed"]


def decided_outcome(record: HandoffRecord) -> DecidedOutcome:
    """Where a decided handoff ended: its decision when the email went out (or none was due),
    else where the approved email is stuck."""
    if record.final_action == "reject":
        return "rejected"
    if record.send_status in ("queued", "retrying"):
        return "send_pending"
    if record.send_status == "blocked":
        return "send_blocked"
    if record.send_status == "failed":
        return "send_failed"
    return "approved" if record.final_action == "approve" else "edited"


def stuck_sends(records: Sequence[HandoffRecord]) -> list[dict[str, Any]]:
    """Approved emails that did not go out: what a manager should look at first."""
    return [{"handoff_id": r.id, "lead_id": r.lead_id, "rep": r.rep, "status": r.send_status,
             "detail": r.send_detail, "outbox_id": r.outbox_id,
             "approved_at": r.final_at.isoformat() if r.final_at else None}
            for r in records if r.final_action in ("approve", "edit")
            and decided_outcome(r).startswith("send_")]


def summarize(records: Sequence[HandoffRecord], now: datetime) -> dict[str, Any]:
    """The core numbers for any slice of handoffs."""
    decided = [r for r in records if r.final_action]
    acted = [r for r in records if r.first_decision_at is not None]
    # Every decided handoff lands in exactly one share, so the shares add up to 100 %: an
    # approval whose email is still retrying, was blocked after approval or failed is shown as
    # such, not as "approved as-is".
    outcome = Counter(decided_outcome(r) for r in decided)
    approved = [r for r in decided if decided_outcome(r) == "approved"]
    all_approvals = [r for r in decided if r.final_action == "approve"]
    edited = [r for r in decided if decided_outcome(r) == "edited"]
    rejected = [r for r in decided if r.final_action == "reject"]
    sla = Counter(r.sla_status(now) for r in records)

    def durations(start: str, end: str) -> list[float]:
        return [s for r in records
                if (s := _seconds(getattr(r, start), getattr(r, end))) is not None]

    speed = {}
    for name, start, end in (("signal_to_card", "first_signal_at", "carded_at"),
                             ("card_to_decision", "carded_at", "first_decision_at"),
                             ("decision_to_send", "final_at", "sent_at"),
                             ("signal_to_send", "first_signal_at", "sent_at")):
        values = durations(start, end)
        speed[name] = {"p50": percentile(values, 0.5), "p90": percentile(values, 0.9),
                       "n": len(values)}
    edit_words = [r.edit_words for r in edited if r.edit_words is not None]
    edit_share = [r.edit_share for r in edited if r.edit_share is not None]
    return {
        "handoffs": len(records),
        "decided": len(decided),
        "approved": len(approved), "edited": len(edited), "rejected": len(rejected),
        "pending": len(records) - len(decided),
        "sent": sum(1 for r in records if r.sent_at),
        "send_pending": outcome["send_pending"], "send_blocked": outcome["send_blocked"],
        "send_failed": outcome["send_failed"],
        "approve_as_is_rate": _rate(len(approved), len(decided)),
        "edit_rate": _rate(len(edited), len(decided)),
        "reject_rate": _rate(len(rejected), len(decided)),
        "send_pending_rate": _rate(outcome["send_pending"], len(decided)),
        "send_blocked_rate": _rate(outcome["send_blocked"], len(decided)),
        "send_failed_rate": _rate(outcome["send_failed"], len(decided)),
        "escalation_rate": _rate(sum(r.escalated for r in acted), len(acted)),
        "revision_rate": _rate(sum(r.revised for r in acted), len(acted)),
        "quick_approval_rate": _rate(sum(r.quick for r in all_approvals), len(all_approvals)),
        "sla_met": sla["met"], "sla_missed": sla["missed"], "sla_open": sla["open"],
        "sla_attainment": _rate(sla["met"], sla["met"] + sla["missed"]),
        "speed": speed,
        "edit_words_mean": round(statistics.fmean(edit_words), 1) if edit_words else None,
        "edit_share_mean": round(statistics.fmean(edit_share), 3) if edit_share else None,
        "small_sample": len(records) < 5,
    }


def _breakdown(records: Sequence[HandoffRecord], key: Callable[[HandoffRecord], str],
               now: datetime, *, order: Iterable[str] | None = None) -> list[dict[str, Any]]:
    groups: dict[str, list[HandoffRecord]] = defaultdict(list)
    for r in records:
        groups[key(r)].append(r)
    names = list(order) if order is not None else sorted(groups)
    return [{"key": name, **summarize(groups.get(name, []), now)} for name in names]


def _hand_raise_events(session: Session, lead_ids: Iterable[str], policy: Any
                       ) -> dict[str, list[tuple[datetime, str]]]:
    """(occurred_at, type) of hand-raises and booked meetings per lead."""
    from store.tables import Event

    forms = {f.lower() for f in policy.routing.hand_raise_forms}
    kinds = set(policy.routing.hand_raise_events) | {"form_submit", "meeting_booked"}
    found: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    ids = list(lead_ids)
    for start in range(0, len(ids), 500):
        rows = session.execute(select(Event.lead_id, Event.type, Event.occurred_at,
                                      Event.properties)
                               .where(Event.lead_id.in_(ids[start:start + 500]),
                                      Event.type.in_(kinds)))
        for lead_id, kind, at, props in rows.tuples():
            if kind == "form_submit" and str((props or {}).get("form", "")).lower() not in forms:
                continue
            found[lead_id].append((_utc(at), kind))  # type: ignore[arg-type]
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
            "return_to_intent_rate": _rate(returned, len(recycled)),
            "days_to_return_p50": percentile(days, 0.5),
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
            "meetings_per_email": _rate(len(booked), len(sent))}


# --- support ------------------------------------------------------------------------------------


def _reflect(session: Session, name: str) -> Table | None:
    # The session's own connection: on SQLite a second one would wait for this one's lock.
    connection = session.connection()
    if not inspect(connection).has_table(name):
        return None
    return Table(name, MetaData(), autoload_with=connection)


def support_section(session: Session, *, since: datetime | None, now: datetime
                    ) -> dict[str, Any]:
    """Transfers by trigger, time to claim, outcomes and human preference, when the support
    tables exist (read by reflection, so this works before and after their migration).
    Extend here as the support surface records more."""
    conversations = _reflect(session, "support_conversations")
    transfers = _reflect(session, "support_transfers")
    if conversations is None or transfers is None:
        return {"available": False, "reason": "no data: support tables not installed"}
    try:
        c, t = conversations.c, transfers.c
        conv_query = select(func.count()).select_from(conversations)
        transfer_query = select(transfers)
        if since is not None:
            conv_query = conv_query.where(c.created_at >= since)
            transfer_query = transfer_query.where(t.created_at >= since)
        total = int(session.scalar(conv_query) or 0)
        rows = [dict(r._mapping) for r in session.execute(transfer_query)]
    except Exception as exc:  # a schema this code does not know yet: say so, don't crash
        return {"available": False, "reason": f"no data: support tables unreadable ({exc})"}
    if not total and not rows:
        return {"available": False, "reason": "no data: no support conversations yet"}
    triggers = Counter(str(r.get("trigger") or "unknown") for r in rows)
    claim_times = [s for r in rows
                   if (s := _seconds(_utc(r.get("created_at")), _utc(r.get("claimed_at"))))
                   is not None]
    statuses = Counter(str(r.get("status") or "unknown") for r in rows)
    preference = sum(1 for r in rows if r.get("trigger") == "asked_for_human"
                     and r.get("bot_could_answer"))
    unclaimed = sum(1 for r in rows if r.get("claimed_at") is None and r.get("status") == "waiting")
    return {
        "available": True,
        "conversations": total,
        "transfers": len(rows),
        "transfer_rate": _rate(len(rows), total),
        "by_trigger": [{"trigger": k, "transfers": n, "share_of_conversations": _rate(n, total)}
                       for k, n in triggers.most_common()],
        "time_to_claim": {"p50": percentile(claim_times, 0.5),
                          "p90": percentile(claim_times, 0.9), "n": len(claim_times)},
        "claimed_rate": _rate(len(claim_times), len(rows)),
        "waiting_unclaimed": unclaimed,
        "escalated_unclaimed": sum(1 for r in rows if r.get("escalated_at")),
        "outcomes": dict(statuses),
        "human_preference": preference,
        "human_preference_rate": _rate(preference, total),
    }


def support_report(rt: AppRuntime, *, since: datetime | None, now: datetime) -> dict[str, Any]:
    """The support section: the support service's own `support_kpis` when it is installed and
    its tables exist, else the tables read directly, else "no data"."""
    support_kpis: Callable[..., dict[str, Any]] | None
    try:
        from service.support_kpis import support_kpis
    except Exception:  # not built (yet): read the tables, if any
        support_kpis = None
    if support_kpis is not None:
        try:
            # Its window is [since, until): end just after `now` so "now" is included.
            raw = support_kpis(rt, since or datetime(1970, 1, 1, tzinfo=UTC),
                               now + timedelta(seconds=1))
        except Exception:  # tables not migrated, or a shape this code predates: fall back
            raw = None
        if raw is not None:
            return from_support_kpis(raw)
    with rt.db.session() as session:
        return support_section(session, since=since, now=now)


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
        "claimed_rate": _rate(int(claim.get("claimed") or 0), transfers),
        "waiting_unclaimed": claim.get("unclaimed", 0),
        "escalated_unclaimed": claim.get("escalated", 0),
        "outcomes": {k: resolution.get(k, 0) for k in ("resolved", "handed_back", "open")},
        "resolution_rate": resolution.get("rate"),
        "human_preference": preference.get("bot_could_answer", 0),
        "human_preference_rate": preference.get("rate"),
        "bot_replies": raw.get("bot_replies", {}),
    }


# --- the report ---------------------------------------------------------------------------------


def build_kpi_report(rt: AppRuntime, *, days: int | None = 90, weeks: int = 12,
                     progress: Progress | None = None) -> dict[str, Any]:
    """The KPI run (JSON-able) for the store behind `rt`, over the last `days` (None: all)."""
    from evals.runner import new_run_id

    def step(text: str) -> None:
        if progress is not None:
            progress(text)

    now = rt.clock.now().astimezone(UTC)
    since = now - timedelta(days=days) if days else None
    names = {m.key: m.name for m in rt.roster.members}
    step("reading handoffs, approvals and decisions")
    with rt.db.session() as session:
        records, pairs = load_records(session, since=since, roster_names=names)
        step("recycling, meetings and support")
        recycling = recycling_section(session, records, rt.policy)
        meetings = meetings_section(session, records, rt.policy)
        from store.tables import Approval, Event

        event_query = select(func.count()).select_from(Event)
        if since is not None:
            event_query = event_query.where(Event.occurred_at >= since)
        signals = int(session.scalar(event_query) or 0)
        pending_now = int(session.scalar(select(func.count()).select_from(Approval)
                                         .where(Approval.status == "pending")) or 0)
    support = support_report(rt, since=since, now=now)  # its own session: not inside ours
    step("summarising")
    overall = summarize(records, now)
    reasons = Counter(r.reason_code or "unspecified" for r in records if r.final_action == "reject")
    rejected = sum(reasons.values())
    this_week = week_of(now)
    week_keys = [(this_week - timedelta(weeks=i)).isoformat() for i in range(weeks - 1, -1, -1)]
    by_week = _breakdown([r for r in records if r.week.isoformat() >= week_keys[0]],
                         lambda r: r.week.isoformat(), now, order=week_keys)
    reps = _breakdown(records, lambda r: r.rep, now)
    for row in reps:
        row["name"] = names.get(row["key"], row["key"])
    routes = _breakdown(records, lambda r: r.route, now,
                        order=[r for r in HUMAN_ROUTES if any(x.route == r for x in records)])
    run = {
        "kind": "kpi",
        "schema": SCHEMA,
        "run_id": new_run_id("kpi", now),
        "created_at": now.isoformat(),
        "window": {"days": days, "since": since.isoformat() if since else None,
                   "until": now.isoformat(), "weeks": weeks},
        "store": _store_label(rt.db.url),
        "policy_version": rt.policy.version,
        "empty": not records,
        "funnel": {"signals": signals, "handoffs": len(records),
                   "carded": sum(1 for r in records if r.carded_at),
                   "decided": overall["decided"], "sent": overall["sent"],
                   "pending_approvals_now": pending_now},
        "overall": overall,
        "stuck_sends": stuck_sends(records),
        "rejections": [{"reason_code": k, "count": n, "share": _rate(n, rejected)}
                       for k, n in reasons.most_common()],
        "recycling": recycling,
        "meetings": meetings,
        "edits": edit_summary(pairs),
        "support": support,
        "breakdowns": {
            "week": by_week,
            "route": routes,
            "band": _breakdown(records, lambda r: r.band, now,
                               order=[b for b in ("A", "B", "C", "disqualified", "unknown")
                                      if any(x.band == b for x in records)]),
            "rep": reps,
            "prompt_version": _breakdown(records, lambda r: r.prompt_version, now),
            "policy_version": _breakdown(records, lambda r: r.policy_version, now),
        },
    }
    return run


def _store_label(url: str) -> str:
    """The store without credentials (for the report header)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return parsed.render_as_string(hide_password=True).replace("***", "…")
