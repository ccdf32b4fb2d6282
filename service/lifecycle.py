"""The handoff's states and the words the outside world sees for them, defined once.

Stored values are the `StrEnum` members' values, so a status written by one module is the same
word every reader, the API's query validation and the reports use.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    EDITED = "edited"
    REVISED = "revised"
    ESCALATED = "escalated"
    REJECTED = "rejected"
    REASSIGNED = "reassigned"  # the system's own decision when an SLA is breached twice
    SUPERSEDED = "superseded"  # a newer version of the draft replaced it before a decision


# Status an approval takes for each decision; only `pending` approvals can be decided.
STATUS_AFTER: dict[str, ApprovalStatus] = {
    "approve": ApprovalStatus.APPROVED, "edit": ApprovalStatus.EDITED,
    "revise": ApprovalStatus.REVISED, "escalate": ApprovalStatus.ESCALATED,
    "reject": ApprovalStatus.REJECTED, "reassign": ApprovalStatus.REASSIGNED,
}

# Where the handoff stands right after each decision: it leaves `awaiting_approval` at once,
# whatever happens to the send afterwards.
HANDOFF_STATUS_AFTER: dict[str, str] = {
    "approve": "approved", "edit": "approved", "revise": "revising", "escalate": "escalated",
    "reject": "rejected", "reassign": "reassigned",
}


class OutboxStatus(StrEnum):
    """An approved message's delivery, as stored."""

    PENDING = "pending"      # queued, not tried yet
    SENDING = "sending"      # claimed by a worker (leased) while it talks SMTP
    RETRYING = "retrying"    # a transient failure; the next attempt is scheduled
    SENT = "sent"
    BLOCKED = "blocked"      # a guardrail stopped it after approval (unsubscribe, suppression...)
    NOT_SENT = "not_sent"    # no sender configured
    FAILED = "failed"        # a permanent answer, or the retry budget ran out


SendStatus = Literal["not_applicable", "queued", "retrying", "sent", "blocked", "failed"]

SEND_STATUS: dict[str, SendStatus] = {
    OutboxStatus.PENDING: "queued", OutboxStatus.SENDING: "queued",
    OutboxStatus.RETRYING: "retrying", OutboxStatus.SENT: "sent",
    OutboxStatus.BLOCKED: "blocked", OutboxStatus.NOT_SENT: "blocked",
    OutboxStatus.FAILED: "failed",
}


def stored_outbox_statuses(status: SendStatus) -> tuple[OutboxStatus, ...]:
    """The stored statuses a public send status stands for (filters in lists)."""
    return tuple(OutboxStatus(k) for k, v in SEND_STATUS.items() if v == status)
