"""Pre-send guardrails: pure checks that block an approved email and say why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class SendFacts:
    """What the store knows at the moment of sending."""

    recipient: str | None
    unsubscribed: bool
    consent: bool | None
    suppressed_until: datetime | None
    suppression_reason: str | None
    sent_last_7_days: int
    lead_owner: str | None
    approver_may_send_for_owner: bool
    content_matches_approval: bool
    now: datetime


def send_blocks(facts: SendFacts, *, max_messages_per_week: int) -> list[str]:
    """Every reason the message must not go out; empty means it may."""
    blocks: list[str] = []
    if not facts.recipient:
        blocks.append("no recipient on the lead record (erased?)")
    if facts.unsubscribed:
        blocks.append("the lead unsubscribed")
    if facts.consent is False and not facts.unsubscribed:
        blocks.append("the lead withdrew email consent")
    if facts.suppressed_until is not None and facts.suppressed_until > facts.now:
        blocks.append(f"suppressed until {facts.suppressed_until:%Y-%m-%d} "
                      f"({facts.suppression_reason or 'suppression window'})")
    if facts.sent_last_7_days >= max_messages_per_week:
        blocks.append(f"frequency cap: {facts.sent_last_7_days} messages in the last 7 days "
                      f"(at most {max_messages_per_week})")
    if not facts.approver_may_send_for_owner:
        blocks.append(f"another owner is active on this lead ({facts.lead_owner})")
    if not facts.content_matches_approval:
        blocks.append("the draft changed after it was approved")
    return blocks
