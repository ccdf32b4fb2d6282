"""The KPI report's customer-satisfaction section (issue 19 item 4): ratings of resolved
support conversations, for bot-only vs transferred conversations, by trigger (why they
escalated) and by the agent who resolved them; low-score follow-ups; callbacks.

CSAT is the share of ratings of 4 or 5 (the usual definition), next to the mean score and the
response rate (ratings / resolved conversations asked). Small samples are flagged, not hidden.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from agent.privacy import redact_for_style
from reports.kpi.records import rate
from store.tables import SupportMessage
from store.tables.feedback import SupportCallback, SupportRating

SMALL_SAMPLE = 20  # fewer ratings than this in a row: read it as an anecdote
SATISFIED = 4
LOW = 2
RECENT_LOW = 5
COMMENT_CHARS = 300


def _row(key: str, scores: list[int], **extra: Any) -> dict[str, Any]:
    n = len(scores)
    return {"key": key, "ratings": n,
            "csat": rate(sum(1 for s in scores if s >= SATISFIED), n),
            "average": round(sum(scores) / n, 2) if n else None,
            "low": sum(1 for s in scores if s <= LOW), "small_sample": n < SMALL_SAMPLE,
            **extra}


def _rows(groups: Mapping[str, list[int]], order: Iterable[str] | None = None
          ) -> list[dict[str, Any]]:
    keys = list(order) if order is not None else sorted(groups, key=lambda k: (-len(groups[k]),
                                                                              k))
    return [_row(k, groups.get(k, [])) for k in keys]


def _anonymous(comment: str | None) -> str | None:
    """A customer's comment as a published report shows it: what they said, not who they are
    or whom they named (addresses, links, numbers and names replaced by type, as the edit
    pairs are: `agent.privacy.redact_for_style`). A report is a file that outlives an erasure
    of its writer; the rating row, which erasure reaches, keeps the words."""
    # Redacted whole, then shortened: cut first, an address straddling the cut would half-match.
    return redact_for_style(comment)[:COMMENT_CHARS] if comment else None


def csat_section(session: Session, *, since: datetime | None, until: datetime,
                 names: Mapping[str, str]) -> dict[str, Any]:
    """The section (JSON-able); `available` False with a reason when nothing was rated."""
    query = select(SupportRating).where(SupportRating.created_at <= until)
    asked_query = select(func.count()).select_from(SupportMessage).where(
        SupportMessage.role == "bot", SupportMessage.source_key.like("rating_request:%"),
        SupportMessage.at <= until)
    callback_query = select(SupportCallback.status, SupportCallback.due_at,
                            SupportCallback.escalated_at).where(
        SupportCallback.created_at <= until)
    if since is not None:
        query = query.where(SupportRating.created_at >= since)
        asked_query = asked_query.where(SupportMessage.at >= since)
        callback_query = callback_query.where(SupportCallback.created_at >= since)
    ratings = list(session.scalars(query.order_by(SupportRating.created_at)))
    asked = int(session.scalar(asked_query) or 0)
    callbacks = session.execute(callback_query).all()
    callback_summary = {
        "scheduled": len(callbacks),
        "open": sum(1 for c in callbacks if c.status == "open"),
        "done": sum(1 for c in callbacks if c.status == "done"),
        "overdue": sum(1 for c in callbacks if c.status == "open" and c.due_at < until),
        "escalated": sum(1 for c in callbacks if c.escalated_at is not None)}
    if not ratings:
        return {"available": False, "asked": asked, "callbacks": callback_summary,
                "reason": "no ratings yet: customers are asked when a conversation is resolved"
                if asked else "no data: no support conversation was resolved yet"}
    by_path: dict[str, list[int]] = defaultdict(list)
    by_trigger: dict[str, list[int]] = defaultdict(list)
    by_agent: dict[str, list[int]] = defaultdict(list)
    for r in ratings:
        by_path[r.path].append(r.score)
        if r.path == "transferred":
            by_trigger[r.trigger or "unknown"].append(r.score)
            by_agent[r.agent or "unresolved by a person"].append(r.score)
    agents = _rows(by_agent)
    for row in agents:
        row["name"] = names.get(row["key"], row["key"])
    low = [r for r in ratings if r.score <= LOW]
    return {
        "available": True,
        "source": "support_ratings",
        "overall": _row("all", [r.score for r in ratings]),
        "asked": asked, "response_rate": rate(len(ratings), asked),
        "distribution": {str(s): sum(1 for r in ratings if r.score == s) for s in range(1, 6)},
        "by_path": _rows(by_path, order=("bot_only", "transferred")),
        "by_trigger": _rows(by_trigger), "by_agent": agents,
        "followups": {"opened": sum(1 for r in low if r.followup_to),
                      "delivered": sum(1 for r in low if r.followup_done_at is not None)},
        "recent_low": [{"score": r.score, "path": r.path, "trigger": r.trigger,
                        "agent": names.get(r.agent or "", r.agent),
                        "comment": _anonymous(r.comment),
                        "at": r.created_at.isoformat()}
                       for r in reversed(low[-RECENT_LOW:])],
        "callbacks": callback_summary,
        "small_sample": len(ratings) < SMALL_SAMPLE,
    }


def markdown_line(section: Mapping[str, Any] | None) -> list[str]:
    """The section in one line of the report's Markdown summary (Slack); none for old runs."""
    if not section:
        return []
    if not section.get("available"):
        return [f"- CSAT: {section['reason']}"]
    o = section["overall"]
    paths = {r["key"]: r for r in section["by_path"]}

    def pct(value: float | None) -> str:
        return "–" if value is None else f"{value:.0%}"

    return [f"- CSAT {pct(o['csat'])} ({o['ratings']} ratings, mean {o['average']}): bot only "
            f"{pct(paths['bot_only']['csat'])} · transferred "
            f"{pct(paths['transferred']['csat'])} · {o['low']} low scores followed up"]
