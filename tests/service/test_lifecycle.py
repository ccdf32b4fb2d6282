"""The lifecycle table (service/lifecycle.py): statuses as stored, and the changes allowed."""

from __future__ import annotations

import pytest

from service.lifecycle import (
    ALLOWED,
    HANDOFF_STATUS_AFTER,
    SEND_STATUS,
    STATUS_AFTER,
    ApprovalStatus,
    HandoffStatus,
    IllegalTransition,
    OutboxStatus,
    TransferStatus,
    sources,
    transition,
)


def test_every_decision_moves_a_pending_approval_and_only_a_pending_one() -> None:
    for action, after in STATUS_AFTER.items():
        assert transition("pending", after) == after.value, action
        assert sources(after) == ("pending",)
        for decided in ApprovalStatus:
            if decided is not ApprovalStatus.PENDING:
                with pytest.raises(IllegalTransition):
                    transition(decided.value, after)
    assert set(HANDOFF_STATUS_AFTER) == set(STATUS_AFTER)
    assert all(isinstance(s, HandoffStatus) for s in HANDOFF_STATUS_AFTER.values())


def test_a_sent_or_blocked_message_never_changes_again() -> None:
    for final in (OutboxStatus.SENT, OutboxStatus.BLOCKED, OutboxStatus.NOT_SENT):
        assert final not in ALLOWED[OutboxStatus]
        with pytest.raises(IllegalTransition, match=f"{final.value} -> sending"):
            transition(final.value, OutboxStatus.SENDING)
    # Only a failed or retrying message can be retried by a person; a send claims from these.
    assert sources(OutboxStatus.RETRYING) == ("retrying", "sending", "failed")
    assert set(sources(OutboxStatus.SENDING)) == {"pending", "retrying", "sending"}
    assert set(SEND_STATUS) == set(OutboxStatus)


def test_a_closed_transfer_stays_closed_and_unknown_words_are_refused() -> None:
    assert set(sources(TransferStatus.RESOLVED)) == {"waiting", "claimed"}
    assert sources(TransferStatus.CLAIMED) == ("waiting",)
    with pytest.raises(IllegalTransition):
        transition("resolved", TransferStatus.HANDED_BACK)
    with pytest.raises(IllegalTransition, match="unknown TransferStatus 'open'"):
        transition("open", TransferStatus.CLAIMED)


def test_pending_means_different_things_in_different_lifecycles() -> None:
    # StrEnum members compare as their text, so the table is keyed by lifecycle first.
    assert ApprovalStatus.PENDING == OutboxStatus.PENDING
    with pytest.raises(IllegalTransition):
        transition("pending", OutboxStatus.SENT)
    assert transition("pending", ApprovalStatus.APPROVED) == "approved"
