"""Support KPIs from the store: what the reports engineer calls (`support_kpis(rt, since)`).

Every figure is recomputed from the tables (conversations, messages, transfers), so it survives
restarts and agrees across replicas; the Prometheus counters in `service.support` are the live
view of the same events.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from statistics import mean, median
from typing import Any

from sqlalchemy import func, select

from agent.stats import percentile
from service.lifecycle import TransferStatus
from service.runtime import AppRuntime
from store.tables import SupportConversation, SupportMessage, SupportTransfer


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def support_kpis(rt: AppRuntime, since: datetime, until: datetime | None = None
                 ) -> dict[str, Any]:
    """Transfer rate by trigger, time to claim, human preference rate and resolution after
    transfer, for conversations started (and transfers opened) in `[since, until)`.

    - transfer rate: transfers / conversations started, overall and per trigger;
    - time to claim: seconds from transfer to claim (median, p90, mean), plus unclaimed and
      escalated counts;
    - human preference rate: conversations where the customer asked for a person although the
      bot had a confident answer, over conversations (and over requests for a person);
    - resolution after transfer: transfers resolved by a person, over transfers that ended.
    """
    until = until or rt.clock.now()
    with rt.db.session() as session:
        conversations = session.scalar(
            select(func.count()).select_from(SupportConversation).where(
                SupportConversation.created_at >= since,
                SupportConversation.created_at < until)) or 0
        transfers = list(session.scalars(select(SupportTransfer).where(
            SupportTransfer.created_at >= since, SupportTransfer.created_at < until)))
        kinds = Counter(str((meta or {}).get("kind")) for meta in session.scalars(
            select(SupportMessage.meta).where(SupportMessage.role == "bot",
                                              SupportMessage.at >= since,
                                              SupportMessage.at < until)))
        customer_messages = session.scalar(
            select(func.count()).select_from(SupportMessage).where(
                SupportMessage.role == "customer", SupportMessage.at >= since,
                SupportMessage.at < until)) or 0

    by_trigger = Counter(t.trigger for t in transfers)
    waits = [(t.claimed_at - t.created_at).total_seconds() for t in transfers if t.claimed_at]
    p90 = percentile(waits, 0.9)
    asked = [t for t in transfers if t.trigger == "asked_for_human"]
    preferred = {t.conversation_id for t in asked if t.bot_could_answer}
    ended = [t for t in transfers
             if t.status in (TransferStatus.RESOLVED, TransferStatus.HANDED_BACK)]
    resolved = [t for t in ended if t.status == TransferStatus.RESOLVED]
    return {
        "since": since.isoformat(), "until": until.isoformat(),
        "conversations": conversations,
        "customer_messages": customer_messages,
        "bot_replies": {"answered": kinds.get("answer", 0), "no_answer": kinds.get("no_answer", 0),
                        "smalltalk": sum(kinds.get(k, 0) for k in ("greeting", "thanks", "ack"))},
        "transfers": len(transfers),
        "transfer_rate": _rate(len({t.conversation_id for t in transfers}), conversations),
        "transfer_rate_by_trigger": {
            trigger: {"transfers": n, "rate": _rate(n, conversations)}
            for trigger, n in sorted(by_trigger.items())},
        "time_to_claim_s": {
            "claimed": len(waits), "median": round(median(waits), 1) if waits else None,
            "p90": round(p90, 1) if p90 is not None else None,
            "mean": round(mean(waits), 1) if waits else None,
            "unclaimed": sum(1 for t in transfers if t.status == TransferStatus.WAITING),
            "escalated": sum(1 for t in transfers if t.escalated_at is not None)},
        "human_preference": {
            "asked_for_human": len(asked), "bot_could_answer": len(preferred),
            "rate": _rate(len(preferred), conversations),
            "share_of_requests": _rate(len(preferred), len({t.conversation_id for t in asked}))},
        "resolution_after_transfer": {
            "ended": len(ended), "resolved": len(resolved),
            "handed_back": len(ended) - len(resolved),
            "open": len(transfers) - len(ended),
            "rate": _rate(len(resolved), len(ended))},
    }
