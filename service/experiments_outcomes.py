"""What happened after an experiment's email was sent, recorded at ingest (one line in
service/ingest.py, inside the events' transaction): a reply, a meeting, an unsubscribe or a
complaint from the lead, credited to the variant that wrote the email.

Which email: the one whose Message-ID the reply's `In-Reply-To` / `References` names (event
properties `in_reply_to` and `references`, also spelled as the headers), when it is this lead's;
else the lead's latest email sent before the event, within ATTRIBUTION_WINDOW. Each counts once
per sent email (replies) or per lead (meetings, unsubscribes, complaints), however often the
event is replayed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.experiments import add_outcomes, outcome_row
from store.tables import ExperimentAssignment, ExperimentOutcome, OutboxMessage

ATTRIBUTION_WINDOW = timedelta(days=30)
KINDS = {"inbound_reply": "reply", "meeting_booked": "meeting", "unsubscribe": "unsubscribe"}
COMPLAINT_WORDS = ("complaint", "spam", "abuse")
_MESSAGE_ID = re.compile(r"<[^<>\s]{1,298}>")
_HEADER_KEYS = ("in_reply_to", "In-Reply-To", "in-reply-to", "references", "References")


def message_ids(properties: dict[str, Any]) -> list[str]:
    """The Message-IDs a reply names, In-Reply-To first."""
    found: list[str] = []
    for key in _HEADER_KEYS:
        value = properties.get(key)
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, str):
                found += [m for m in _MESSAGE_ID.findall(item[:5000]) if m not in found]
    return found


def _is_complaint(properties: dict[str, Any]) -> bool:
    text = " ".join(str(properties.get(k, "")) for k in ("reason", "kind", "type", "category"))
    return any(word in text.lower() for word in COMPLAINT_WORDS)


def _sent_email(session: Session, lead_id: str, at: datetime,
                properties: dict[str, Any], threaded: bool) -> OutboxMessage | None:
    if threaded:
        ids = message_ids(properties)
        if ids:
            named = session.scalars(select(OutboxMessage).where(
                OutboxMessage.message_id.in_(ids), OutboxMessage.lead_id == lead_id,
                OutboxMessage.sent_at.is_not(None))).all()
            if named:
                order = {mid: i for i, mid in enumerate(ids)}
                return min(named, key=lambda m: order[m.message_id])
    return session.scalar(
        select(OutboxMessage)
        .where(OutboxMessage.lead_id == lead_id, OutboxMessage.sent_at.is_not(None),
               OutboxMessage.sent_at <= at, OutboxMessage.sent_at > at - ATTRIBUTION_WINDOW)
        .order_by(OutboxMessage.sent_at.desc()).limit(1))


def record_event_outcomes(session: Session, rows: Iterable[dict[str, Any]]) -> int:
    """Credit the fresh events (`events` rows just inserted) to the variants behind the email
    they answer. Returns how many outcome rows were new candidates."""
    relevant = [r for r in rows if r["type"] in KINDS]
    if not relevant:
        return 0
    leads = {r["lead_id"] for r in relevant}
    assigned = set(session.scalars(select(ExperimentAssignment.lead_id)
                                   .where(ExperimentAssignment.lead_id.in_(leads))))
    new: list[dict[str, Any]] = []
    for row in relevant:
        if row["lead_id"] not in assigned:
            continue
        props = row.get("properties") or {}
        kind = KINDS[row["type"]]
        message = _sent_email(session, row["lead_id"], row["occurred_at"], props,
                              threaded=kind == "reply")
        if message is None:
            continue
        drafted = session.execute(
            select(ExperimentOutcome.experiment, ExperimentOutcome.variant)
            .where(ExperimentOutcome.approval_id == message.approval_id,
                   ExperimentOutcome.kind == "drafted")).all()
        kinds = [kind] + (["complaint"] if kind == "unsubscribe" and _is_complaint(props) else [])
        for name, variant in drafted:
            for k in kinds:
                key = message.id if k == "reply" else row["lead_id"]
                new.append(outcome_row(name, variant, row["lead_id"], k, key,
                                       row["occurred_at"], approval_id=message.approval_id,
                                       outbox_id=message.id, event_id=row["event_id"]))
    add_outcomes(session, new)
    return len(new)
