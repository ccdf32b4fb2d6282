"""The lifecycles' states (approvals, outbox messages, handoffs, support conversations and
their warm transfers), the changes each allows, and the words the outside world sees for them,
defined once.

Stored values are the `StrEnum` members' values, so a status written by one module is the same
word every reader, the API's query validation and the reports use.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from agent.support.models import ConversationStatus, TransferStatus


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

class HandoffStatus(StrEnum):
    """Where a sales handoff stands (`handoffs.status`); every change goes through
    `transition()`, and a new handoff starts at `HANDOFF_START`."""

    DRAFTING = "drafting"                    # created; the graph is writing the first draft
    AWAITING_APPROVAL = "awaiting_approval"  # a draft waits for a person's decision
    APPROVED = "approved"                    # approved or edited; the send is the outbox's
    REVISING = "revising"                    # sent back to the model with instructions
    ESCALATED = "escalated"
    REJECTED = "rejected"
    REASSIGNED = "reassigned"                # the SLA rescue moved it to someone else
    CLOSED = "closed"                        # the graph finished


HANDOFF_START = HandoffStatus.DRAFTING

# Where the handoff stands right after each decision: it leaves `awaiting_approval` at once,
# whatever happens to the send afterwards.
HANDOFF_STATUS_AFTER: dict[str, HandoffStatus] = {
    "approve": HandoffStatus.APPROVED, "edit": HandoffStatus.APPROVED,
    "revise": HandoffStatus.REVISING, "escalate": HandoffStatus.ESCALATED,
    "reject": HandoffStatus.REJECTED, "reassign": HandoffStatus.REASSIGNED,
}


class OutboxStatus(StrEnum):
    """An approved message's delivery, as stored."""

    PENDING = "pending"      # queued, not tried yet
    SENDING = "sending"      # claimed by a worker (leased) while it talks SMTP
    RETRYING = "retrying"    # a transient failure; the next attempt is scheduled
    SENT = "sent"
    BLOCKED = "blocked"      # a guardrail stopped it after approval (unsubscribe, suppression...)
    NOT_SENT = "not_sent"    # no sender configured
    FAILED = "failed"        # a permanent answer, the retry budget ran out, or not confirmed


# How a FAILED send's detail starts when nobody knows whether it arrived: it was handed to the
# mail server and no answer came (service/outbox.py). A person checks before retrying it.
OUTCOME_UNKNOWN = "not confirmed"


def outcome_unknown(send_detail: str | None) -> bool:
    """Whether a send's detail says nobody knows if it arrived (so a retry may be a copy)."""
    return bool(send_detail) and str(send_detail).startswith(OUTCOME_UNKNOWN)


SendStatus = Literal["not_applicable", "queued", "retrying", "sent", "blocked", "failed"]

SEND_STATUS: dict[str, SendStatus] = {
    OutboxStatus.PENDING: "queued", OutboxStatus.SENDING: "queued",
    OutboxStatus.RETRYING: "retrying", OutboxStatus.SENT: "sent",
    OutboxStatus.BLOCKED: "blocked", OutboxStatus.NOT_SENT: "blocked",
    OutboxStatus.FAILED: "failed",
}


# A person, not the bot, has the conversation (messages are relayed, the bot stays silent).
OWNED_BY_PEOPLE = (ConversationStatus.WAITING_FOR_HUMAN, ConversationStatus.HUMAN)

# A support conversation is created by its first message's turn lease, the bot answering
# (service/support_inbox.py); a warm transfer starts `waiting` (service/support_port.py).
CONVERSATION_START = ConversationStatus.BOT
TRANSFER_START = TransferStatus.WAITING


class IllegalTransition(ValueError):
    """A status change the lifecycle does not allow (a bug, not a user error)."""


# The allowed changes, one table per lifecycle (keyed by enum: "pending" is both an approval's
# and a message's status, and StrEnum members compare as their text). A status that is not a
# key is final.
ALLOWED: dict[type[StrEnum], dict[Any, set[Any]]] = {
    ApprovalStatus: {
        ApprovalStatus.PENDING: {ApprovalStatus.APPROVED, ApprovalStatus.EDITED,
                                 ApprovalStatus.REVISED, ApprovalStatus.ESCALATED,
                                 ApprovalStatus.REJECTED, ApprovalStatus.REASSIGNED,
                                 ApprovalStatus.SUPERSEDED},
    },
    OutboxStatus: {
        OutboxStatus.PENDING: {OutboxStatus.SENDING, OutboxStatus.BLOCKED,
                               OutboxStatus.NOT_SENT},
        OutboxStatus.RETRYING: {OutboxStatus.SENDING, OutboxStatus.BLOCKED,
                                OutboxStatus.NOT_SENT, OutboxStatus.RETRYING,
                                OutboxStatus.FAILED},
        # A lease that ran out is taken again or released; the attempt ends in any of these.
        OutboxStatus.SENDING: {OutboxStatus.SENDING, OutboxStatus.PENDING, OutboxStatus.SENT,
                               OutboxStatus.RETRYING, OutboxStatus.FAILED,
                               OutboxStatus.BLOCKED, OutboxStatus.NOT_SENT},
        OutboxStatus.FAILED: {OutboxStatus.RETRYING},  # a person's retry
    },
    # A handoff starts `drafting` (service/leads.py). Each decision takes it out of
    # `awaiting_approval` (HANDOFF_STATUS_AFTER); a redraft for the same or a new owner brings
    # it back; approved (sent, blocked or failed), rejected and not-qualified runs close it.
    HandoffStatus: {
        HandoffStatus.DRAFTING: {HandoffStatus.AWAITING_APPROVAL, HandoffStatus.CLOSED},
        HandoffStatus.AWAITING_APPROVAL: set(HANDOFF_STATUS_AFTER.values()),
        HandoffStatus.REVISING: {HandoffStatus.AWAITING_APPROVAL},
        HandoffStatus.ESCALATED: {HandoffStatus.AWAITING_APPROVAL},
        HandoffStatus.REASSIGNED: {HandoffStatus.AWAITING_APPROVAL},
        HandoffStatus.APPROVED: {HandoffStatus.CLOSED},
        HandoffStatus.REJECTED: {HandoffStatus.CLOSED},
    },
    # Who speaks for us in a support conversation (`support_conversations.status`).
    ConversationStatus: {
        ConversationStatus.BOT: {
            # a trigger fired: the graph's transfer node opens a warm transfer
            # (StoreSupportPort.open_transfer) and the bot falls silent
            ConversationStatus.WAITING_FOR_HUMAN,
            # the customer says the bot's answer solved it (csat.close_if_solved)
            ConversationStatus.RESOLVED,
        },
        ConversationStatus.WAITING_FOR_HUMAN: {
            ConversationStatus.HUMAN,     # a person claims the transfer (first claim wins)
            ConversationStatus.RESOLVED,  # the team resolves it unclaimed
            ConversationStatus.BOT,       # handed back unclaimed: a new bot session (epoch + 1)
        },
        ConversationStatus.HUMAN: {
            ConversationStatus.RESOLVED,  # the owner (or a manager) resolves it
            ConversationStatus.BOT,       # the owner hands it back: a new bot session
        },
        # the customer writes again after the resolution: reopened, a new bot session
        ConversationStatus.RESOLVED: {ConversationStatus.BOT},
    },
    # A transfer starts `waiting` (TRANSFER_START); claim, resolve and hand-back
    # (service/support_transfers.py) are conditional UPDATEs from `sources(target)`.
    TransferStatus: {
        TransferStatus.WAITING: {TransferStatus.CLAIMED, TransferStatus.RESOLVED,
                                 TransferStatus.HANDED_BACK},
        TransferStatus.CLAIMED: {TransferStatus.RESOLVED, TransferStatus.HANDED_BACK},
    },
}


def sources(target: StrEnum) -> tuple[str, ...]:
    """The stored statuses from which `target` may be reached (a conditional UPDATE's WHERE)."""
    return tuple(s.value for s, after in ALLOWED[type(target)].items() if target in after)


def transition(current: str, target: StrEnum) -> str:
    """The value to store for `target` if its lifecycle allows `current` -> `target`; raises
    IllegalTransition if not. Plain text, as stored: a driver may dump an Enum by its name."""
    kind = type(target)
    try:
        now = kind(current)
    except ValueError:
        raise IllegalTransition(f"unknown {kind.__name__} {current!r}") from None
    if target not in ALLOWED[kind].get(now, set()):
        raise IllegalTransition(f"{kind.__name__}: {now.value} -> {target.value} is not allowed")
    return target.value


def stored_outbox_statuses(status: SendStatus) -> tuple[OutboxStatus, ...]:
    """The stored statuses a public send status stands for (filters in lists)."""
    return tuple(OutboxStatus(k) for k, v in SEND_STATUS.items() if v == status)
