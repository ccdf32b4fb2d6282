"""Whether new signals start a handoff: the rules between "qualified" and "a human gets it"."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from agent.models import Qualification
from agent.policy import Policy


@dataclass(frozen=True)
class Gate:
    start: bool
    reason: str


def handoff_gate(
    qualification: Qualification,
    *,
    new_event_ids: Collection[str],
    previous_route: str | None,
    has_active_handoff: bool,
    suppressed_until: datetime | None,
    suppression_reason: str | None,
    now: datetime,
    policy: Policy,
) -> Gate:
    """Decide if this processing round hands the lead to a person.

    A handoff needs a human route and something new: a hand-raise among the events just
    processed, or the lead crossing into a human route (band A, strategic). Suppression (after a
    recycle) blocks it unless the policy lets a fresh hand-raise override that reason code.
    """
    if not qualification.needs_human:
        return Gate(False, f"route {qualification.route}: automated, no human")
    if has_active_handoff:
        return Gate(False, "a handoff is already active: one owner at a time")
    fresh_hand_raise = (
        qualification.route == "hand_raise"
        and qualification.hand_raise_event_id in new_event_ids
    )
    if qualification.route == "hand_raise" and not fresh_hand_raise:
        return Gate(False, "no new hand-raise since the last handoff")
    if qualification.route in ("band_a", "strategic") and previous_route == qualification.route:
        return Gate(False, f"already routed {qualification.route}; waiting for a new hand-raise")
    if suppressed_until is not None and suppressed_until > now:
        rule = policy.dispositions.get(suppression_reason) if suppression_reason else None  # type: ignore[call-overload]
        if fresh_hand_raise and rule is not None and rule.hand_raise_overrides:
            return Gate(True, f"hand-raise overrides the {suppression_reason} suppression")
        return Gate(False,
                    f"suppressed until {suppressed_until.isoformat()} ({suppression_reason})")
    return Gate(True, f"route {qualification.route}")
