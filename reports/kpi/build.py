"""`hitl report`: what happened in production, read from the store.

One record per handoff (`records`), then the same summary (`summary`) over every slice a manager
asks about: week, band, rep (aggregated, for coaching), prompt version and policy version.
Approval-as-is is always reported next to the edit rate, with the share of approvals made within
30 seconds of the card, so rubber-stamping is visible. Recycling, meetings and the support
conversations are `sections`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from reports.kpi.csat import csat_section
from reports.kpi.edits import edit_summary
from reports.kpi.experiments import experiments_section
from reports.kpi.records import load_records, rate, week_of
from reports.kpi.sections import meetings_section, recycling_section, support_report
from reports.kpi.summary import breakdown, stuck_sends, summarize
from reports.store import new_run_id
from store.tables import Approval, Event

if TYPE_CHECKING:
    from service.runtime import AppRuntime

SCHEMA = 1
HUMAN_ROUTES = ("hand_raise", "strategic", "band_a")
Progress = Callable[[str], None]


def build_kpi_report(rt: AppRuntime, *, days: int | None = 90, weeks: int = 12,
                     progress: Progress | None = None) -> dict[str, Any]:
    """The KPI run (JSON-able) for the store behind `rt`, over the last `days` (None: all)."""
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
        event_query = select(func.count()).select_from(Event)
        if since is not None:
            event_query = event_query.where(Event.occurred_at >= since)
        signals = int(session.scalar(event_query) or 0)
        pending_now = int(session.scalar(select(func.count()).select_from(Approval)
                                         .where(Approval.status == "pending")) or 0)
        csat = csat_section(session, since=since, until=now, names=names)
    support = support_report(rt, since=since, now=now)  # its own session: not inside ours
    step("summarising")
    overall = summarize(records, now)
    reasons = Counter(r.reason_code or "unspecified" for r in records if r.final_action == "reject")
    rejected = sum(reasons.values())
    this_week = week_of(now)
    week_keys = [(this_week - timedelta(weeks=i)).isoformat() for i in range(weeks - 1, -1, -1)]
    by_week = breakdown([r for r in records if r.week.isoformat() >= week_keys[0]],
                         lambda r: r.week.isoformat(), now, order=week_keys)
    reps = breakdown(records, lambda r: r.rep, now)
    for row in reps:
        row["name"] = names.get(row["key"], row["key"])
    routes = breakdown(records, lambda r: r.route, now,
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
        "rejections": [{"reason_code": k, "count": n, "share": rate(n, rejected)}
                       for k, n in reasons.most_common()],
        "recycling": recycling,
        "meetings": meetings,
        "edits": edit_summary(pairs),
        "support": support,
        "csat": csat,
        "experiments": experiments_section(rt),  # A/B tests, variant by variant
        "breakdowns": {
            "week": by_week,
            "route": routes,
            "band": breakdown(records, lambda r: r.band, now,
                               order=[b for b in ("A", "B", "C", "disqualified", "unknown")
                                      if any(x.band == b for x in records)]),
            "rep": reps,
            "prompt_version": breakdown(records, lambda r: r.prompt_version, now),
            "policy_version": breakdown(records, lambda r: r.policy_version, now),
        },
    }
    return run


def _store_label(url: str) -> str:
    """The store without credentials (for the report header)."""
    parsed = make_url(url)
    return parsed.render_as_string(hide_password=True).replace("***", "…")
