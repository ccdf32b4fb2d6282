"""The KPI report's numbers for any slice of handoffs, and the slices a manager asks about."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Literal

from agent.privacy import EMAIL
from agent.stats import percentile
from reports.kpi.records import HandoffRecord, rate, seconds


def p(values: Sequence[float], q: float) -> float | None:
    """The report's percentile: `agent.stats.percentile` to two places."""
    found = percentile(values, q)
    return None if found is None else round(found, 2)


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
    """Approved emails that did not go out: what a manager should look at first.

    The detail is the mail server's answer, which often quotes the recipient ("550 5.1.1
    <ada@acme.io>: user unknown"): a published report outlives an erasure, so the address is
    `‹email›` there (the outbox row, which erasure reaches, keeps the server's words)."""
    return [{"handoff_id": r.id, "lead_id": r.lead_id, "rep": r.rep, "status": r.send_status,
             "detail": EMAIL.sub("‹email›", r.send_detail) if r.send_detail else r.send_detail,
             "outbox_id": r.outbox_id,
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
                if (s := seconds(getattr(r, start), getattr(r, end))) is not None]

    speed = {}
    for name, start, end in (("signal_to_card", "first_signal_at", "carded_at"),
                             ("card_to_decision", "carded_at", "first_decision_at"),
                             ("decision_to_send", "final_at", "sent_at"),
                             ("signal_to_send", "first_signal_at", "sent_at")):
        values = durations(start, end)
        speed[name] = {"p50": p(values, 0.5), "p90": p(values, 0.9),
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
        "approve_as_is_rate": rate(len(approved), len(decided)),
        "edit_rate": rate(len(edited), len(decided)),
        "reject_rate": rate(len(rejected), len(decided)),
        "send_pending_rate": rate(outcome["send_pending"], len(decided)),
        "send_blocked_rate": rate(outcome["send_blocked"], len(decided)),
        "send_failed_rate": rate(outcome["send_failed"], len(decided)),
        "escalation_rate": rate(sum(r.escalated for r in acted), len(acted)),
        "revision_rate": rate(sum(r.revised for r in acted), len(acted)),
        "quick_approval_rate": rate(sum(r.quick for r in all_approvals), len(all_approvals)),
        "sla_met": sla["met"], "sla_missed": sla["missed"], "sla_open": sla["open"],
        "sla_attainment": rate(sla["met"], sla["met"] + sla["missed"]),
        "speed": speed,
        "edit_words_mean": round(statistics.fmean(edit_words), 1) if edit_words else None,
        "edit_share_mean": round(statistics.fmean(edit_share), 3) if edit_share else None,
        "small_sample": len(records) < 5,
    }


def breakdown(records: Sequence[HandoffRecord], key: Callable[[HandoffRecord], str],
              now: datetime, *, order: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """`summarize` per group of `key` (in `order` when given, empty groups included)."""
    groups: dict[str, list[HandoffRecord]] = defaultdict(list)
    for r in records:
        groups[key(r)].append(r)
    names = list(order) if order is not None else sorted(groups)
    return [{"key": name, **summarize(groups.get(name, []), now)} for name in names]


